"""Read benchmark: the API served as in production, next to a bare ceiling.

    python bench/reads.py [--quick] [--duration 15] [--workers N]
                          [--database {postgresql,sqlite,both}] [--database-url URL]

For each database (PostgreSQL with N workers, SQLite with one):

1. Loads the catalogue of bench/serving.py (4,000 packages named after real
   PyPI projects, 4 categories, 300 grids) with `packages-api import`.
2. Serves it with `packages-api serve --workers N` (FETCH_ENABLED=false) and
   asks it each endpoint once, keeping every answer's status, headers and
   body. A bare ASGI app (bench/ceiling.py) under uvicorn with the same
   number of workers then answers those exact bytes: the ceiling.
3. Drives both with wrk on loopback, warm-up first, at 1 and 32
   connections, for: the first page of packages, a deep page (offset 3,980),
   a detail by id, a detail by slug, a grid of 18 packages, the category
   list, a search, and a revalidation answered 304 (If-None-Match).
4. Prints requests/s, p50 and p99 for ours and the ceiling and their
   ratio, the busy CPU of each server worker over the measured window and
   the connections each held (a run where one worker held every connection
   is flagged, run once more, and left out of the mean), and the resident
   memory of each worker after the runs.
5. Measures the detail by id at 32 connections once more, then again with a
   `packages-api worker` refreshing at full concurrency against the loopback
   stand-in upstream (bench/upstream.py), and prints the loss.

Then PASS/FAIL lines: at 32 connections every endpoint at least 25% of its
ceiling's requests/s and p99 under 20 ms; the deep page within 10% of the
first page's requests/s; RSS under 150 MiB per worker; refresher loss at
most 20%. The exit status is 0 only when every target passes.

Nothing leaves the machine: every server binds 127.0.0.1, every upstream URL
points at the stand-in, and the database must be on loopback. The run has a
time limit and stops every process it started, whatever happens.
"""

import argparse
import base64
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import serving
from serving import Fleet, Started, WrkResult

DEFAULT_DATABASE_URL = (
    "postgresql+asyncpg://postgres@127.0.0.1:5432/packages_api_bench_reads"
)
CONNECTIONS = (1, 32)
DETAIL_ID = 2_000
SLUG_ID = 2_001
GRID_ID = 1  # the catalogue's grid of exactly 18 packages
SEARCH = "debug toolbar"
LATENCY = 0.05  # of the stand-in upstream, for the refresher

TARGET_SHARE = 0.25
TARGET_P99_MS = 20.0
TARGET_DEEP = 0.10
TARGET_RSS_MIB = 150.0
TARGET_REFRESH_LOSS = 0.20
# One worker of several held this share of the connections, or did this
# share of the work: it took (nearly) every connection.
ONE_WORKER_CONNECTIONS = 0.9
ONE_WORKER_CPU = 0.95


@dataclass(frozen=True, slots=True)
class Endpoint:
    key: str
    label: str
    target: str  # path and query
    conditional: bool = False  # sends If-None-Match, answered 304
    expect: int = 200


@dataclass(slots=True)
class Run:
    """One wrk window against one server."""

    result: WrkResult
    cpu: list[float]  # busy share of the window, per worker (1.0 = one core)
    held: list[int]  # established connections per worker, mid-window
    flagged: bool = False
    retried: bool = False
    first: "Run | None" = None  # the flagged first try, when this is the second


@dataclass(slots=True)
class DatabaseReport:
    label: str
    workers: int
    runs: dict[tuple[str, int, str], Run] = field(default_factory=dict)
    rss_ours: list[float] = field(default_factory=list)
    rss_ceiling: list[float] = field(default_factory=list)
    refresh_without: Run | None = None
    refresh_with: Run | None = None
    refreshed: int = 0  # packages the refresher fetched while measured
    refresher_cpu: float = 0.0  # its busy share (1.0 = one core)
    refresher_in_flight: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def endpoints(document: dict) -> list[Endpoint]:
    packages = {one["id"]: one for one in document["packages"]}
    grid = next(one for one in document["grids"] if one["id"] == GRID_ID)
    assert len(grid["packages"]) == 18
    detail = f"/api/v4/packages/{DETAIL_ID}/"
    return [
        Endpoint("first", "packages, first page", "/api/v4/packages/"),
        Endpoint("deep", "packages, offset 3980", "/api/v4/packages/?offset=3980"),
        Endpoint("id", "package by id", detail),
        Endpoint(
            "slug", "package by slug", f"/api/v4/packages/{packages[SLUG_ID]['slug']}/"
        ),
        Endpoint("grid", "grid of 18", f"/api/v4/grids/{grid['slug']}/"),
        Endpoint("categories", "categories", "/api/v4/categories/"),
        Endpoint("search", "search", f"/api/v4/search/?q={quote(SEARCH)}"),
        Endpoint("304", "revalidation 304", detail, conditional=True, expect=304),
    ]


def capture(
    server: Started, points: Sequence[Endpoint], folder: Path
) -> tuple[Path, str]:
    """Ask each endpoint once; write the answers for the ceiling; the ETag."""
    etag = ""
    answers = []
    for point in sorted(points, key=lambda one: one.conditional):
        headers = {"If-None-Match": etag} if point.conditional else {}
        status, got, body = serving.get(server.url, point.target, headers)
        if status != point.expect:
            raise SystemExit(
                f"GET {point.target}: {status}, not {point.expect}:\n{body[:500]!r}"
            )
        if not point.conditional and point.target.endswith(f"/{DETAIL_ID}/"):
            etag = dict((k.lower(), v) for k, v in got)["etag"]
        answers.append(
            {
                "target": point.target,
                "if_none_match": point.conditional,
                "status": status,
                # uvicorn writes its own Date and Server.
                "headers": [
                    (k, v) for k, v in got if k.lower() not in ("date", "server")
                ],
                "body": base64.b64encode(body).decode(),
            }
        )
    path = folder / f"answers-{server.port}.json"
    path.write_text(json.dumps(answers))
    return path, etag


def measure(
    server: Started,
    point: Endpoint,
    connections: int,
    seconds: float,
    warmup: float,
    etag: str,
) -> Run:
    """Warm up, then one measured wrk window with the workers sampled."""
    headers = [f"If-None-Match: {etag}"] if point.conditional else []
    url = server.url + point.target
    serving.run_wrk(url, connections=connections, seconds=warmup, headers=headers)
    workers = server.workers()
    before = serving.cpu_seconds(workers)
    started = time.monotonic()
    process = serving.start_wrk(
        url, connections=connections, seconds=seconds, headers=headers
    )
    with serving.stopped_on_error(process):
        time.sleep(min(seconds / 2, 5))
        held = serving.connections_held(workers, server.port or 0)
        result = serving.finish_wrk(process, seconds)
    elapsed = time.monotonic() - started
    after = serving.cpu_seconds(workers)
    cpu = [(b - a) / elapsed for a, b in zip(before, after, strict=True)]
    return Run(result, cpu, held, flagged=one_worker(cpu, held, connections))


def one_worker(cpu: Sequence[float], held: Sequence[int], connections: int) -> bool:
    """Whether one worker of several took every connection (or all the work)."""
    if len(cpu) < 2 or connections < 2:
        return False
    if sum(held) >= 2 and max(held) >= ONE_WORKER_CONNECTIONS * sum(held):
        return True
    busy = sum(cpu)
    return busy > 0 and max(cpu) / busy >= ONE_WORKER_CPU


def measure_balanced(
    server: Started,
    point: Endpoint,
    connections: int,
    seconds: float,
    warmup: float,
    etag: str,
) -> Run:
    """A run where one worker took every connection is run once more."""
    run = measure(server, point, connections, seconds, warmup, etag)
    if run.flagged:
        again = measure(server, point, connections, seconds, warmup, etag)
        again.retried = True
        again.first = run
        return again
    return run


def fmt_cpu(run: Run) -> str:
    shares = "/".join(f"{share:.0%}" for share in run.cpu)
    conns = "/".join(str(one) for one in run.held)
    flag = " ONE-WORKER" if run.flagged else ""
    again = " (2nd try)" if run.retried else ""
    return f"{shares} [{conns}]{flag}{again}"


def check_errors(
    report: DatabaseReport,
    what: str,
    run: Run,
    point: Endpoint,
    server: Started,
    etag: str,
) -> None:
    """Errors wrk saw, and whether the endpoint still answers what it should.

    wrk counts any 2xx or 3xx as a success: a revalidation whose ETag no
    longer matched would be measured as 200s. So each endpoint is asked once
    more after its window, and must still answer its status.
    """
    for one in (run.first, run):
        if one is None or not one.result.errors:
            continue
        result = one.result
        report.errors.append(
            f"{what}{' (1st try)' if one is run.first else ''}:"
            f" {result.non_2xx_3xx} non-2xx/3xx answers,"
            f" socket errors {result.socket_errors} in {result.requests} requests"
        )
    headers = {"If-None-Match": etag} if point.conditional else {}
    status, _, _ = serving.get(server.url, point.target, headers)
    if status != point.expect:
        report.errors.append(
            f"{what}: answered {status} after the window, not {point.expect}"
        )


def bench_database(
    crew: Fleet,
    label: str,
    database_url: str,
    workers: int,
    document: dict,
    upstream: Started,
    args: argparse.Namespace,
) -> DatabaseReport:
    report = DatabaseReport(label, workers)
    env = serving.served_env(database_url, upstream.url)
    started = time.monotonic()
    print(f"\n== {label}: loading the catalogue", flush=True)
    print(
        f"  {serving.load_catalogue(database_url, document, crew.folder, env)}"
        f" ({time.monotonic() - started:.0f} s)",
        flush=True,
    )

    server = crew.serve(f"serve-{label.lower()}", env, workers)
    points = endpoints(document)
    answers, etag = capture(server, points, crew.folder)
    ceiling = crew.ceiling(f"ceiling-{label.lower()}", answers, workers)
    for point in points:
        for connections in CONNECTIONS:
            for side, target in (("ours", server), ("ceiling", ceiling)):
                run = measure_balanced(
                    target, point, connections, args.duration, args.warmup, etag
                )
                report.runs[(point.key, connections, side)] = run
                check_errors(
                    report,
                    f"{side} {point.label} c={connections}",
                    run,
                    point,
                    target,
                    etag,
                )
                print(
                    f"  {point.label:<22} c={connections:<2} {side:<7}"
                    f" {run.result.rps:>8.0f} req/s  p50 {run.result.p50_ms:6.2f} ms"
                    f"  p99 {run.result.p99_ms:6.2f} ms  CPU {fmt_cpu(run)}",
                    flush=True,
                )
    report.rss_ours = serving.rss_mib(server.workers())
    report.rss_ceiling = serving.rss_mib(ceiling.workers())
    crew.stop(ceiling)

    # The refresher, beside the same server: the detail by id at 32.
    detail = next(point for point in points if point.key == "id")
    report.refresh_without = measure_balanced(
        server, detail, 32, args.duration, args.warmup, etag
    )
    refresher = crew.refresher(env)
    time.sleep(args.warmup + 2)  # it has claimed a batch and is fetching
    if refresher.process.poll() is not None:
        tail = refresher.log.read_text(errors="replace")[-2000:]
        raise SystemExit(f"packages-api worker stopped:\n{tail}")
    serving.upstream_reset(upstream)
    fetching = refresher.workers()
    cpu_before, started = serving.cpu_seconds(fetching), time.monotonic()
    report.refresh_with = measure_balanced(
        server, detail, 32, args.duration, args.warmup, etag
    )
    elapsed = time.monotonic() - started
    report.refresher_cpu = (serving.cpu_seconds(fetching)[0] - cpu_before[0]) / elapsed
    stats = serving.upstream_stats(upstream)
    report.refreshed = stats["requests"]["pypi"]
    report.refresher_in_flight = stats["peak_in_flight"]
    what = "ours package by id c=32, refresher on"
    check_errors(report, what, report.refresh_with, detail, server, etag)
    crew.stop(refresher)
    crew.stop(server)
    return report


def ratio(ours: float, ceiling: float) -> float:
    return ours / ceiling if ceiling else math.nan


def print_report(report: DatabaseReport, document: dict) -> list[tuple[bool, str]]:
    print(f"\n== {report.label}, {report.workers} worker(s)")
    print(
        f"{'endpoint':<22} {'c':>2} | {'ours req/s':>10} {'p50':>7} {'p99':>7}"
        f" | {'ceil req/s':>10} {'p50':>7} {'p99':>7} | {'ratio':>6}"
        f" | ours CPU per worker [connections]"
    )
    verdicts: list[tuple[bool, str]] = []
    balanced: list[float] = []
    left_out = 0
    for point in endpoints(document):
        for connections in CONNECTIONS:
            ours = report.runs[(point.key, connections, "ours")]
            ceil = report.runs[(point.key, connections, "ceiling")]
            share = ratio(ours.result.rps, ceil.result.rps)
            print(
                f"{point.label:<22} {connections:>2} | {ours.result.rps:>10.0f}"
                f" {ours.result.p50_ms:>7.2f} {ours.result.p99_ms:>7.2f}"
                f" | {ceil.result.rps:>10.0f} {ceil.result.p50_ms:>7.2f}"
                f" {ceil.result.p99_ms:>7.2f} | {share:>6.1%} | {fmt_cpu(ours)}"
            )
            if connections > 1:
                if ours.flagged:
                    left_out += 1
                else:
                    balanced.append(statistics.fmean(ours.cpu))
                verdicts.append(
                    (
                        share >= TARGET_SHARE,
                        f"{point.label} at c={connections}: {share:.1%} of the"
                        f" ceiling's req/s (target >= {TARGET_SHARE:.0%})"
                        + (
                            " [one worker took every connection]"
                            if ours.flagged
                            else ""
                        ),
                    )
                )
                verdicts.append(
                    (
                        ours.result.p99_ms < TARGET_P99_MS,
                        f"{point.label} at c={connections}: p99"
                        f" {ours.result.p99_ms:.2f} ms (target < {TARGET_P99_MS:.0f} ms)",
                    )
                )
    print(
        "latency in ms; ratio: ours req/s over the ceiling's; CPU: each worker's"
        " busy time over the window (100% = one core)"
    )
    if balanced:
        print(
            f"mean busy CPU per worker at c=32: {statistics.fmean(balanced):.0%}"
            f" over {len(balanced)} runs"
            + (f" ({left_out} one-worker runs left out)" if left_out else "")
        )
    print(
        "RSS per worker after the runs: ours "
        + ", ".join(f"{one:.1f}" for one in report.rss_ours)
        + " MiB; ceiling "
        + ", ".join(f"{one:.1f}" for one in report.rss_ceiling)
        + " MiB"
    )

    first = report.runs[("first", 32, "ours")].result.rps
    deep = report.runs[("deep", 32, "ours")].result.rps
    gap = 1 - ratio(deep, first)
    verdicts.append(
        (
            gap <= TARGET_DEEP,
            f"deep page at c=32: {deep:.0f} req/s, {-gap:+.1%} against the first"
            f" page's {first:.0f} (target within {TARGET_DEEP:.0%})",
        )
    )
    worst = max(report.rss_ours, default=math.nan)
    verdicts.append(
        (
            worst < TARGET_RSS_MIB,
            f"RSS per worker: {worst:.1f} MiB at most (target < {TARGET_RSS_MIB:.0f} MiB)",
        )
    )
    if report.refresh_without and report.refresh_with:
        without, with_ = report.refresh_without.result, report.refresh_with.result
        loss = 1 - ratio(with_.rps, without.rps)
        print(
            f"package by id c=32 without the refresher: {without.rps:.0f} req/s,"
            f" p99 {without.p99_ms:.2f} ms, CPU {fmt_cpu(report.refresh_without)}"
        )
        print(
            f"package by id c=32 with the refresher:    {with_.rps:.0f} req/s,"
            f" p99 {with_.p99_ms:.2f} ms, CPU {fmt_cpu(report.refresh_with)};"
            f" it fetched {report.refreshed} packages meanwhile (warm-up included),"
            f" CPU {report.refresher_cpu:.0%}, most upstream requests in flight:"
            f" GitHub {report.refresher_in_flight.get('github', 0)},"
            f" PyPI {report.refresher_in_flight.get('pypi', 0)}"
            f" (FETCH_CONCURRENCY {serving.REFRESH_CONCURRENCY})"
        )
        verdicts.append(
            (
                loss <= TARGET_REFRESH_LOSS and report.refreshed > 0,
                f"refresher running: package by id at c=32 {without.rps:.0f} ->"
                f" {with_.rps:.0f} req/s, a loss of {loss:.1%}"
                f" (target <= {TARGET_REFRESH_LOSS:.0%})"
                + ("" if report.refreshed else " [the refresher fetched nothing]"),
            )
        )
    for line in report.errors:
        print(f"errors: {line}")
    verdicts.append(
        (not report.errors, f"no errors ({len(report.errors)} runs had some)")
    )
    return [(ok, f"{report.label}: {line}") for ok, line in verdicts]


def expected_seconds(args: argparse.Namespace, databases: int) -> float:
    per_run = args.duration + args.warmup + 1.5
    runs = len(CONNECTIONS) * 2 * 8 + 2
    return databases * (runs * per_run + 90) + 30


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Read benchmark: the API under wrk next to a bare ASGI ceiling."
    )
    parser.add_argument(
        "--quick", action="store_true", help="short windows (smoke run)"
    )
    parser.add_argument("--duration", type=float, help="seconds per window (15)")
    parser.add_argument(
        "--warmup", type=float, help="seconds of warm-up per window (3)"
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="PostgreSQL workers"
    )
    parser.add_argument(
        "--database", choices=("postgresql", "sqlite", "both"), default="both"
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="the PostgreSQL database (loopback, 'bench' in its name; it is emptied)",
    )
    args = parser.parse_args(argv)
    args.duration = args.duration or (3.0 if args.quick else 15.0)
    args.warmup = args.warmup or (1.0 if args.quick else 3.0)
    return args


def main() -> int:
    args = parse_args()
    databases = []
    if args.database in ("postgresql", "both"):
        if problem := serving.check_database_url(args.database_url, "emptied"):
            raise SystemExit(f"--database-url: {problem}")
        databases.append(("PostgreSQL", args.database_url, args.workers))
    serving.ensure_wrk()
    document = serving.catalogue_document()
    limit = 2 * expected_seconds(args, len(databases) + 1) + 120
    print(
        f"read benchmark: {len(document['packages'])} packages,"
        f" {len(document['grids'])} grids; windows of {args.duration:.0f} s after"
        f" {args.warmup:.0f} s of warm-up; {serving.code_version()};"
        f" Python {platform.python_version()}, {os.cpu_count()} cores;"
        f" about {expected_seconds(args, len(databases) + (args.database != 'postgresql')) / 60:.0f} min,"
        f" stops itself after {limit / 60:.0f}",
        flush=True,
    )
    verdicts: list[tuple[bool, str]] = []
    with (
        tempfile.TemporaryDirectory(prefix="packages-bench-reads-") as tmp,
        serving.fleet(Path(tmp)) as crew,
    ):
        serving.time_limit(limit)
        if args.database in ("sqlite", "both"):
            databases.append(("SQLite", f"sqlite+aiosqlite:///{tmp}/reads.db", 1))
        upstream = crew.upstream(LATENCY)
        reports = [
            bench_database(crew, label, url, workers, document, upstream, args)
            for label, url, workers in databases
        ]
        for report in reports:
            verdicts += print_report(report, document)

    print()
    for ok, line in verdicts:
        print(f"{'PASS' if ok else 'FAIL'}  {line}")
    return 0 if all(ok for ok, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
