"""Benchmark the refresh engine against a slow stand-in GitHub and PyPI on loopback.

    python bench/refresh.py [--packages 2000 20000] [--latency 0.05]
                            [--concurrency 16] [--database-url URL] [--quick]

What runs:

- `bench/upstream.py`, in a process of its own on 127.0.0.1, answers GitHub's
  four REST repository endpoints, its GraphQL endpoint and PyPI's JSON API
  after `--latency` seconds each, with ETags and 304s on REST, and counts
  what it was asked (`/_stats`).
- For each N, this process makes a fresh database (a SQLite file in a temp
  folder; also PostgreSQL with `--database-url`), migrates it with the real
  migrations and inserts N packages in bulk: real PyPI project names from
  bench/data/django-package-names.txt, repo_url `https://github.com/<org>/<name>`,
  pypi_url the name. Beyond the 17,694 names the list holds, names come round
  again under another GitHub organisation and a slug with a `-2` suffix.
- A child process then refreshes them as `packages-api worker` does: the real
  `refresh_due` with the real HTTP client, called in a loop under one owner
  name until nothing is due (round 1); then every package is made due again
  and the loop runs once more against an upstream where nothing changed
  (round 2). The child does nothing else, so its peak RSS is the refresher's.

What is printed, per database and N:

- packages/s, and the requests per package the stand-in actually saw;
- the bound = P / (P x S x L / C + Q x L) for P packages: C slots
  (FETCH_CONCURRENCY) each busy for S requests of L seconds per package,
  plus Q GraphQL batch queries that run with nothing else in flight (one
  per 100 repositories, at the start of each batch). S is the critical path:
  the refresher asks a package's requests one after another (the stand-in
  checks this: "most in flight for one package" is 1), so S = its requests
  per package. If they ever overlap, S is taken as the larger of the GitHub
  and the PyPI requests per package and the table says so. Also printed,
  for context, the bound with FETCH_HOST_CONCURRENCY (H) as a second cap:
  at most H GitHub requests in flight;
- the ratio of packages/s to the bound;
- GitHub points per package (REST requests answered with anything but a
  304, a 304 costing no point, plus one per GraphQL query);
- CPU time of the refreshing process per package, and over wall time;
- peak RSS of the refreshing process (ru_maxrss), RSS when it started
  refreshing, and with `--tracemalloc` the traced peak (that slows Python down,
  so throughput is then not comparable).

Targets, each with a PASS or FAIL line: at least 85% of the bound in both
rounds at 2,000 packages; peak RSS growing by under 10% from the smallest to
the largest N (2,000 to 20,000 in the full run); round 2 spending under 0.05
GitHub points per package.

Nothing leaves the machine: the stand-in binds 127.0.0.1, every upstream URL
setting points at it, the HTTP client refuses any other host, and
`--database-url` must name a loopback host. `--quick` is a smoke run (250
and 1,000 packages); the full run takes several minutes and prints progress.
Every child process has a time limit and the stand-in is stopped at the end.
"""

import argparse
import asyncio
import contextlib
import cProfile
import hashlib
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import structlog
from serving import check_database_url, is_loopback
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import event_loop
from app.config import Settings
from app.db.base import utcnow
from app.db.engine import create_engine, create_sessionmaker
from app.db.migrate import upgrade
from app.fetcher.client import create_http_client
from app.fetcher.refresh import RefreshSummary, refresh_due
from app.fetcher.scheduler import refresher_name
from app.logging import configure_logging
from app.models import Category, FetchState, Package, PackageRefresh
from app.packages.repo_url import repo_key

BENCH = Path(__file__).resolve().parent
NAMES = BENCH / "data" / "django-package-names.txt"
UPSTREAM = BENCH / "upstream.py"

FULL_SIZES = (2_000, 20_000)
QUICK_SIZES = (250, 1_000)
ORGS = ("django-bench", "django-bench-forks")  # one per pass over the names
DUMMY_TOKEN = "bench-dummy-token"  # only ever sent to the loopback stand-in

TARGET_RATIO = 0.85
TARGET_RATIO_AT = 2_000
TARGET_MEMORY_GROWTH = 0.10
TARGET_SECOND_ROUND_POINTS = 0.05


# -- the catalogue ---------------------------------------------------------


def package_rows(count: int, names: Sequence[str]) -> Iterator[dict[str, Any]]:
    """`count` packages on real names; later passes use another org and a suffix."""
    taken = set(names)
    for index in range(count):
        lap, position = divmod(index, len(names))
        name = names[position]
        org = ORGS[lap] if lap < len(ORGS) else f"django-bench-{lap + 1}"
        slug = name
        if lap:
            # A suffix some real project may already have ("django-foo-2").
            slug = f"{name}-{lap + 1}"
            while slug in taken:
                slug += "-b"
            taken.add(slug)
        url = f"https://github.com/{org}/{name}"
        yield {
            "title": slug[:100],
            "slug": slug,
            "category_id": 1,
            "repo_url": url,
            "repo_key": repo_key(url),
            "pypi_url": name,
        }


async def prepare_database(database_url: str, count: int, names: Sequence[str]) -> None:
    """An empty, migrated database holding `count` never-fetched packages."""
    if not database_url.startswith("sqlite"):
        await empty_postgres(database_url)
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.begin() as connection:
            await connection.execute(
                insert(Category).values(
                    id=1, title="App", slug="apps", title_plural="Apps"
                )
            )
            rows = package_rows(count, names)
            while chunk := [row for _, row in zip(range(1_000), rows, strict=False)]:
                await connection.execute(insert(Package), chunk)
    finally:
        await engine.dispose()


async def empty_postgres(database_url: str) -> None:
    """Create the benchmark database if needed, and drop everything in it."""
    url = make_url(database_url)
    admin = create_engine(
        url.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with admin.connect() as connection:
            exists = await connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": url.database},
            )
            if not exists:
                await connection.execute(text(f'CREATE DATABASE "{url.database}"'))
    finally:
        await admin.dispose()
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


async def stored_counts(database_url: str) -> tuple[int, int]:
    """Packages with a stored version, and sources with stored ETags."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            versions = await connection.scalar(
                select(func.count()).where(Package.pypi_version != "")
            )
            etags = await connection.scalars(select(FetchState.etags))
            return versions or 0, sum(1 for one in etags if one)
    finally:
        await engine.dispose()


# -- the refresher under test (child process) ------------------------------


@dataclass(slots=True)
class RoundResult:
    packages: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # user + system, all threads of the process
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    rate_limited: int = 0
    batches: int = 0
    upstream: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RunResult:
    count: int
    rounds: list[RoundResult]
    maxrss_kib: int
    rss_at_start_kib: int
    traced_peak_bytes: int | None
    log_events: dict[str, int]
    stored_versions: int = 0  # filled in afterwards by the orchestrating process
    stored_etags: int = 0


def bench_settings(args: argparse.Namespace, database_url: str) -> Settings:
    """The settings a worker would have, with every upstream on the stand-in."""
    base = args.upstream_url
    overrides: dict[str, Any] = {
        "database_url": database_url,
        "github_api_url": base,
        "github_token": DUMMY_TOKEN,
        "pypi_url": base,
        # Never asked (every repository is on github.com), and loopback anyway.
        "gitlab_api_url": f"{base}/gitlab",
        "bitbucket_api_url": f"{base}/bitbucket",
        "codeberg_api_url": f"{base}/codeberg",
        "fetch_concurrency": args.concurrency,
        "fetch_batch_size": args.batch_size,
        "log_format": "json",
        "log_level": "INFO",
    }
    if args.host_concurrency is not None:
        overrides["fetch_host_concurrency"] = args.host_concurrency
    return Settings(_env_file=None, **overrides)


async def refuse_other_hosts(request: httpx.Request) -> None:
    if not is_loopback(request.url.host):
        raise RuntimeError(f"the benchmark may only reach loopback, not {request.url}")


def rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def upstream_call(base_url: str, path: str, method: str = "GET") -> dict[str, Any]:
    """Ask the stand-in for its counts (blocking: only between rounds)."""
    request = urllib.request.Request(f"{base_url}{path}", method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
    return json.loads(body) if body else {}


async def run_round(
    label: str,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
    *,
    owner: str,
    count: int,
    base_url: str,
) -> RoundResult:
    """refresh_due until nothing is due, as the worker's loop does after a full batch."""
    await asyncio.to_thread(upstream_call, base_url, "/_reset", "POST")
    result = RoundResult()
    cpu_started = cpu_seconds()
    started = time.perf_counter()
    # A bound on the loop itself, whatever refresh_due does: every batch but
    # the last is full, and a few spare ones cover the final empty claim.
    for _ in range(count // settings.fetch_batch_size + 5):
        summary: RefreshSummary = await refresh_due(
            settings, sessionmaker, client, owner=owner
        )
        if not summary.total:
            break
        result.batches += 1
        result.packages += summary.total
        result.updated += summary.updated
        result.unchanged += summary.unchanged
        result.failed += summary.failed
        result.rate_limited += summary.rate_limited
        elapsed = time.perf_counter() - started
        print(
            f"    {label}: {result.packages:>6}/{count} packages,"
            f" {result.packages / elapsed:6.1f}/s, RSS {rss_kib() / 1024:.0f} MiB",
            file=sys.stderr,
            flush=True,
        )
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = cpu_seconds() - cpu_started
    result.upstream = await asyncio.to_thread(upstream_call, base_url, "/_stats")
    return result


def refresh_child(args: argparse.Namespace) -> RunResult:
    """Both rounds, in this process; the worker's INFO logs go to a file."""
    settings = bench_settings(args, args.child_database)
    log_path = Path(args.child_log)
    configure_logging(settings.log_format, settings.log_level)
    with log_path.open("w") as log_file:
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(log_file))
        rounds, rss_at_start, traced_peak = event_loop.run(
            refresh_rounds(args, settings)
        )
    return RunResult(
        count=args.child_count,
        rounds=rounds,
        maxrss_kib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        rss_at_start_kib=rss_at_start,
        traced_peak_bytes=traced_peak,
        log_events=log_events(log_path),
    )


async def refresh_rounds(
    args: argparse.Namespace, settings: Settings
) -> tuple[list[RoundResult], int, int | None]:
    """Round 1, everything due again, round 2; RSS and traced peak at the start."""
    engine = create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    owner = refresher_name()
    rounds: list[RoundResult] = []
    rss_at_start = rss_kib()
    if args.tracemalloc:
        tracemalloc.start()
    try:
        async with create_http_client(settings) as client:
            client.event_hooks["request"].append(refuse_other_hosts)
            for number in (1, 2):
                if number == 2:
                    await make_all_due(sessionmaker)
                rounds.append(
                    await run_round(
                        f"N={args.child_count} round {number}",
                        settings,
                        sessionmaker,
                        client,
                        owner=owner,
                        count=args.child_count,
                        base_url=args.upstream_url,
                    )
                )
        traced_peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
    finally:
        tracemalloc.stop()
        await engine.dispose()
    return rounds, rss_at_start, traced_peak


async def make_all_due(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        await session.execute(
            update(PackageRefresh).values(due_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()


def log_events(path: Path) -> dict[str, int]:
    """How often each WARNING-or-worse event was logged."""
    events: Counter[str] = Counter()
    with path.open() as lines:
        for line in lines:
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("level") not in ("debug", "info"):
                    name = f"{entry.get('level')}:{entry.get('event')}"
                    if not events[name] and "exception" in entry:
                        # The first traceback of each kind, to see what broke.
                        print(f"{name}: {entry['exception']}", file=sys.stderr)
                    events[name] += 1
    return dict(events)


# -- the orchestrating process ---------------------------------------------


def code_version() -> str:
    """HEAD, and a digest of app/ as it is on disk: the code these figures are of."""
    root = BENCH.parent
    digest = hashlib.sha256()
    for path in sorted((root / "app").rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        head = "unknown"
    return f"HEAD {head}, app/ on disk sha256 {digest.hexdigest()[:12]}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def stand_in_upstream(latency: float) -> Iterator[str]:
    """Start bench/upstream.py on loopback; yield its base URL; stop it."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, str(UPSTREAM), "--port", str(port), "--latency", str(latency)]
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                upstream_call(base_url, "/_stats")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the stand-in upstream did not start") from None
                time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def child_time_limit(count: int, args: argparse.Namespace) -> float:
    """Generous: three times two rounds at the bound, plus a minute to set up."""
    at_bound: float = count * 5 * args.latency / args.concurrency
    return 3 * 2 * at_bound + 60


def run_child(
    args: argparse.Namespace, database_url: str, count: int, folder: Path
) -> RunResult:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child-database",
        database_url,
        "--child-count",
        str(count),
        "--child-log",
        str(folder / f"refresh-{count}.log"),
        "--upstream-url",
        args.upstream_url,
        "--latency",
        str(args.latency),
        "--concurrency",
        str(args.concurrency),
        "--batch-size",
        str(args.batch_size),
    ]
    if args.host_concurrency is not None:
        command += ["--host-concurrency", str(args.host_concurrency)]
    if args.tracemalloc:
        command.append("--tracemalloc")
    if args.profile:
        command += ["--profile", str(Path(args.profile).resolve())]
    limit = child_time_limit(count, args)
    try:
        done = subprocess.run(
            command, stdout=subprocess.PIPE, text=True, timeout=limit, check=True
        )
    except subprocess.TimeoutExpired as exc:
        raise SystemExit(f"N={count}: no result within {limit:.0f} s") from exc
    data = json.loads(done.stdout.strip().splitlines()[-1])
    data["rounds"] = [RoundResult(**one) for one in data["rounds"]]
    return RunResult(**data)


@dataclass(frozen=True, slots=True)
class Figures:
    """One round's figures, derived from what the stand-in counted."""

    rate: float
    requests_per_package: float
    sequential: float  # S: requests on one package's critical path
    serial: int  # Q: GraphQL batch queries, each with nothing else in flight
    overlapping: bool
    bound: float
    host_bound: float
    ratio: float
    points_per_package: float
    not_modified_share: float
    other_requests: int


def figures(
    round_: RoundResult, args: argparse.Namespace, settings: Settings
) -> Figures:
    """The bound for P packages: P x S x L / C for the packages, plus Q x L.

    The GraphQL queries are serial: each runs at the start of a batch,
    before any package of it starts (`GitHubClient.prefetch`).
    """
    stats = round_.upstream
    requests, not_modified = stats["requests"], stats["not_modified"]
    packages = max(round_.packages, 1)
    total = sum(requests.values())
    rest = sum(requests[kind] for kind in ("repo", "contributors", "participation"))
    rest += requests["commits"]
    overlapping = stats["peak_in_flight_per_package"] > 1
    if overlapping:
        sequential = max(rest, requests["pypi"]) / packages
    else:
        sequential = (rest + requests["pypi"]) / packages
    serial = requests["graphql"]
    latency, slots = args.latency, args.concurrency
    bound = packages / (packages * sequential * latency / slots + serial * latency)
    # The same with FETCH_HOST_CONCURRENCY as a second cap: at most H GitHub
    # requests in flight, rest / packages of them per package.
    per_slot = max(sequential / slots, rest / packages / settings.host_concurrency)
    host_bound = packages / (packages * per_slot * latency + serial * latency)
    rate = round_.packages / round_.seconds
    return Figures(
        rate=rate,
        requests_per_package=total / packages,
        sequential=sequential,
        serial=serial,
        overlapping=overlapping,
        bound=bound,
        host_bound=host_bound,
        ratio=rate / bound,
        points_per_package=stats["github_points"] / packages,
        not_modified_share=sum(not_modified.values()) / max(total, 1),
        other_requests=requests["other"],
    )


def report(
    label: str,
    results: list[RunResult],
    args: argparse.Namespace,
    settings: Settings,
) -> list[tuple[bool, str]]:
    """Print one database's table; return its (passed, verdict) lines."""
    print(f"\n== {label}")
    print(
        f"latency {args.latency * 1000:.0f} ms, FETCH_CONCURRENCY C={args.concurrency},"
        f" FETCH_HOST_CONCURRENCY H={settings.host_concurrency},"
        f" FETCH_BATCH_SIZE {settings.fetch_batch_size}"
    )
    header = (
        f"{'N':>6} {'round':>5} {'pkg/s':>7} {'req/pkg':>7} {'S':>4} {'Q':>3}"
        f" {'bound':>6} {'ratio':>6} {'H-bound':>7} {'pts/pkg':>7} {'304s':>5}"
        f" {'secs':>6} {'CPU ms/pkg':>10} {'CPU':>4} {'failed':>6}"
    )
    print(header)
    overlapping = other = 0
    for result in results:
        for number, round_ in enumerate(result.rounds, start=1):
            f = figures(round_, args, settings)
            overlapping += f.overlapping
            other += f.other_requests
            print(
                f"{result.count:>6} {number:>5} {f.rate:>7.1f}"
                f" {f.requests_per_package:>7.2f} {f.sequential:>4.1f} {f.serial:>3}"
                f" {f.bound:>6.1f} {f.ratio:>6.1%} {f.host_bound:>7.1f}"
                f" {f.points_per_package:>7.3f} {f.not_modified_share:>5.0%}"
                f" {round_.seconds:>6.1f}"
                f" {1000 * round_.cpu_seconds / max(round_.packages, 1):>10.1f}"
                f" {round_.cpu_seconds / round_.seconds:>4.0%} {round_.failed:>6}"
            )
    print(
        "S: requests per package on its critical path ("
        + (
            "some overlapped: the larger of GitHub REST and PyPI"
            if overlapping
            else "a package's requests went one after another, so all of them"
        )
        + "); Q: GraphQL batch queries, serial."
        " bound = P / (P x S x L / C + Q x L); H-bound: the same with at most"
        " H GitHub requests in flight as well. CPU: the refreshing process's CPU"
        " time over wall time (100% = one core)."
    )
    if other:
        print(f"note: {other} requests the stand-in does not know (answered 404)")
    for result in results:
        for number, round_ in enumerate(result.rounds, start=1):
            if round_.packages != result.count:
                print(
                    f"note: N={result.count} round {number} refreshed"
                    f" {round_.packages} packages, not {result.count}"
                )
    for result in results:
        peaks = {
            kind: [r.upstream["peak_in_flight"].get(kind, 0) for r in result.rounds]
            for kind in ("github", "pypi")
        }
        traced = (
            f", tracemalloc peak {result.traced_peak_bytes / 2**20:.1f} MiB"
            if result.traced_peak_bytes is not None
            else ""
        )
        print(
            f"N={result.count}: peak RSS {result.maxrss_kib / 1024:.1f} MiB"
            f" (RSS {result.rss_at_start_kib / 1024:.1f} MiB before refreshing){traced};"
            f" most requests in flight: GitHub {peaks['github']}, PyPI {peaks['pypi']};"
            f" stored: {result.stored_versions} versions,"
            f" {result.stored_etags} sources with ETags"
        )
        if result.log_events:
            print(f"  logged: {result.log_events}")

    return verdicts(results, args, settings)


def verdicts(
    results: list[RunResult], args: argparse.Namespace, settings: Settings
) -> list[tuple[bool, str]]:
    lines: list[tuple[bool, str]] = []
    by_count = {result.count: result for result in results}
    at = TARGET_RATIO_AT if TARGET_RATIO_AT in by_count else min(by_count)
    for number, round_ in enumerate(by_count[at].rounds, start=1):
        ratio = figures(round_, args, settings).ratio
        lines.append(
            (
                ratio >= TARGET_RATIO,
                f"throughput at N={at}, round {number}: {ratio:.1%} of the bound"
                f" (target >= {TARGET_RATIO:.0%})",
            )
        )
    if len(by_count) > 1:
        low, high = by_count[min(by_count)], by_count[max(by_count)]
        growth = high.maxrss_kib / low.maxrss_kib - 1
        lines.append(
            (
                growth < TARGET_MEMORY_GROWTH,
                f"memory from N={low.count} to N={high.count}: peak RSS"
                f" {low.maxrss_kib / 1024:.1f} -> {high.maxrss_kib / 1024:.1f} MiB"
                f" ({growth:+.1%}, target < {TARGET_MEMORY_GROWTH:+.0%})",
            )
        )
    worst = max(
        figures(result.rounds[1], args, settings).points_per_package
        for result in results
    )
    lines.append(
        (
            worst < TARGET_SECOND_ROUND_POINTS,
            f"round 2 GitHub points per package: {worst:.3f} at worst"
            f" (target < {TARGET_SECOND_ROUND_POINTS})",
        )
    )
    return lines


def orchestrate(args: argparse.Namespace) -> int:
    sizes = QUICK_SIZES if args.quick else tuple(args.packages or FULL_SIZES)
    names = NAMES.read_text().split()
    databases = [("SQLite", None)]
    if args.database_url:
        if problem := check_database_url(args.database_url, "dropped and made again"):
            raise SystemExit(f"--database-url: {problem}")
        databases.append(("PostgreSQL", args.database_url))

    all_verdicts: list[tuple[bool, str]] = []
    with (
        tempfile.TemporaryDirectory(prefix="packages-bench-") as tmp,
        stand_in_upstream(args.latency) as base_url,
    ):
        args.upstream_url = base_url
        folder = Path(tmp)
        print(f"code: {code_version()}")
        print(f"stand-in upstream at {base_url}, work folder {folder}", flush=True)
        for label, url in databases:
            results: list[RunResult] = []
            for count in sizes:
                database_url = url or f"sqlite+aiosqlite:///{folder}/bench-{count}.db"
                print(f"  {label}, N={count}: preparing the database", flush=True)
                asyncio.run(prepare_database(database_url, count, names))
                result = run_child(args, database_url, count, folder)
                counts = asyncio.run(stored_counts(database_url))
                result.stored_versions, result.stored_etags = counts
                results.append(result)
            settings = bench_settings(args, url or "sqlite+aiosqlite:///unused.db")
            all_verdicts += [
                (ok, f"{label}: {line}")
                for ok, line in report(label, results, args, settings)
            ]

    print()
    for ok, line in all_verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {line}")
    return 0 if all(ok for ok, _ in all_verdicts) else 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Refresh benchmark against a stand-in GitHub and PyPI on loopback."
    )
    parser.add_argument("--packages", type=int, nargs="+", metavar="N")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=500, help="FETCH_BATCH_SIZE")
    parser.add_argument(
        "--host-concurrency",
        type=int,
        help="FETCH_HOST_CONCURRENCY (default: the setting's own default)",
    )
    parser.add_argument(
        "--database-url",
        help="also run on this PostgreSQL database (loopback; it is emptied)",
    )
    parser.add_argument("--quick", action="store_true", help="N=250 and 1,000")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="also trace allocations (slower)"
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="write a cProfile file per N into DIR (slower; for finding hot spots)",
    )
    # Set by the orchestrating process for its children.
    for hidden in ("--child-database", "--child-log", "--upstream-url"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--child-count", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.child_database:
        if args.profile:
            profile = cProfile.Profile()
            result = profile.runcall(refresh_child, args)
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            profile.dump_stats(Path(args.profile) / f"refresh-{args.child_count}.prof")
        else:
            result = refresh_child(args)
        print(json.dumps(asdict(result)))
        return
    sys.exit(orchestrate(args))


if __name__ == "__main__":
    main()
