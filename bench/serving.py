"""What bench/reads.py and bench/soak.py share: a catalogue, servers, wrk.

- `catalogue_document` builds a realistic catalogue (seeded, so every run is
  the same): 4,000 packages named after real PyPI projects from
  tests/data/catalog/pypi-django-packages.tsv, 4 categories, 300 grids of 5 to
  30 packages, each package with a description of about 100 characters, 20
  to 100 participants and 52 weeks of commits. `load_catalogue` writes it as
  a `packages-api import` document into a fresh database and imports it with
  that command.
- `Fleet` starts and stops every process a benchmark runs: `packages-api
  serve --workers N`, `packages-api worker`, the stand-in upstream
  (bench/upstream.py), the ceiling (bench/ceiling.py). Each runs in a session
  of its own and is stopped by its process group id at the end, whatever
  happened; nothing else is ever signalled.
- `served_env` is the environment of every process started against the app:
  every setting the caller's environment holds is dropped, and every
  upstream URL points at the loopback stand-in.
- `run_wrk` runs wrk and `parse_wrk` reads its output.

Every server binds 127.0.0.1, and the database must be on loopback.
"""

import contextlib
import csv
import http.client
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TSV = ROOT / "tests" / "data" / "catalog" / "pypi-django-packages.tsv"
UPSTREAM = BENCH / "upstream.py"
CLI = Path(sys.executable).with_name("packages-api")

SEED = 20261204
PACKAGES = 4_000
GRIDS = 300
CATEGORIES = (
    (1, "App", "apps", "Apps"),
    (2, "Framework", "frameworks", "Frameworks"),
    (3, "Other", "other", "Other"),
    (4, "Project", "projects", "Projects"),
)
# Well-known projects always in the catalogue, so that the searches find them.
ALWAYS = (
    "django-debug-toolbar",
    "django-crispy-forms",
    "django-filter",
    "django-extensions",
    "django-allauth",
    "django-cors-headers",
    "django-storages",
    "django-environ",
)
REFRESH_CONCURRENCY = 16  # FETCH_CONCURRENCY's default: the refresher at full
DUMMY_TOKEN = "bench-dummy-token"  # only ever sent to the loopback stand-in
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")


# -- the catalogue ---------------------------------------------------------


def catalogue_rows() -> list[dict[str, str]]:
    with TSV.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def about_100(text: str, filler: Sequence[str], rng: random.Random) -> str:
    """A description of 95 to 110 characters: the summary, topped up or cut.

    Words that would run past 110 are skipped, so that a long word does not
    end the description short.
    """
    out = ""
    words = text.split()
    while len(out) < 95:
        if not words:
            words = rng.choice(filler).split()
        word = words.pop(0)
        if len(out) + len(word) + 1 <= 110:
            out = f"{out} {word}" if out else word
    return out


def catalogue_document(
    packages: int = PACKAGES, grids: int = GRIDS, seed: int = SEED
) -> dict[str, Any]:
    """The catalogue as a `packages-api import` document (the same every time).

    Package ids run from 1 in the order of the names, grid ids from 1. Grid 1
    holds exactly 18 packages; the others 5 to 30.
    """
    rng = random.Random(seed)
    rows = [
        row
        for row in catalogue_rows()
        if SLUG.match(row["name"])
        and not row["name"].isdigit()
        and len(row["name"]) <= 100
    ]
    by_name = {row["name"]: row for row in rows}
    chosen = [by_name[name] for name in ALWAYS]
    others = [row for row in rows if row["name"] not in ALWAYS]
    chosen += rng.sample(others, packages - len(chosen))
    chosen.sort(key=lambda row: row["name"])
    summaries = [row["summary"] for row in rows if len(row["summary"]) > 20]
    logins = [f"dev-{rng.getrandbits(32):08x}" for _ in range(3_000)]

    records = []
    for number, row in enumerate(chosen, start=1):
        name = row["name"]
        year, month = (int(part) for part in row["month"].split("-"))
        created = EPOCH - timedelta(days=rng.randrange(3_000))
        stars = int(rng.paretovariate(1.2) * 20) % 60_000
        records.append(
            {
                "id": number,
                "title": name,
                "slug": name,
                "category": rng.choice(CATEGORIES)[0],
                "repo_url": f"https://github.com/django-bench/{name}",
                "pypi_url": name,
                "documentation_url": f"https://{name.lower()}.readthedocs.io/",
                "repo_watchers": stars,
                "repo_forks": stars // rng.randint(3, 12),
                "repo_description": about_100(row["summary"], summaries, rng),
                "pypi_version": row["version"][:100],
                "commits_over_52": [max(0, int(rng.gauss(3, 4))) for _ in range(52)],
                "participants": rng.sample(logins, rng.randint(20, 100)),
                "last_updated": datetime(year, month, 1, tzinfo=UTC).isoformat(),
                "last_fetched": (EPOCH - timedelta(days=2)).isoformat(),
                "created": created.isoformat(),
                "modified": (created + timedelta(days=rng.randrange(400))).isoformat(),
            }
        )

    grid_records = []
    titles: set[str] = set()
    for number in range(1, grids + 1):
        word = rng.choice(chosen)["name"].removeprefix("django-").split("-")[0]
        title = f"{word.capitalize()} {number}"
        titles.add(title)
        size = 18 if number == 1 else rng.randint(5, 30)
        members = sorted(rng.sample(range(1, packages + 1), size))
        grid_records.append(
            {
                "id": number,
                "title": title,
                "slug": f"grid-{number}-{word.lower()}"[:100],
                "description": about_100("", summaries, rng),
                "packages": members,
                "created": EPOCH.isoformat(),
                "modified": EPOCH.isoformat(),
            }
        )

    categories = [
        {
            "id": id_,
            "title": title,
            "slug": slug,
            "title_plural": plural,
            "description": f"{plural} for Django projects",
            "created": EPOCH.isoformat(),
            "modified": EPOCH.isoformat(),
        }
        for id_, title, slug, plural in CATEGORIES
    ]
    return {"categories": categories, "grids": grid_records, "packages": records}


def check_database_url(
    database_url: str, fate: str, *, bench_name: bool = True, or_else: str = ""
) -> str | None:
    """Why a benchmark may not use this PostgreSQL URL, or None.

    Benchmarks empty or drop the database they are given (its `fate`), so
    it must be on loopback and, unless `bench_name` is False, have `bench`
    in its name; `or_else` says what else would do.
    """
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if not url.drivername.startswith("postgresql+asyncpg"):
        return "use postgresql+asyncpg://USER@127.0.0.1/NAME"
    if not is_loopback(url.host or ""):
        return "the database must be on loopback (127.0.0.0/8)"
    if bench_name and "bench" not in (url.database or ""):
        return f"its database is {fate}: name one with 'bench' in it{or_else}"
    return None


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def load_catalogue(
    database_url: str, document: Mapping[str, Any], folder: Path, env: Mapping[str, str]
) -> str:
    """Empty the database, import the document with `packages-api import`.

    Returns the command's summary line.
    """
    import asyncio

    from refresh import empty_postgres

    if database_url.startswith("sqlite"):
        path = Path(database_url.split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        asyncio.run(empty_postgres(database_url))
    source = folder / "catalogue.json"
    source.write_text(json.dumps(document))
    return packages_api(env, folder, "import", str(source), timeout=600)


def create_token(env: Mapping[str, str], folder: Path, name: str) -> str:
    """A fresh API token made with `packages-api token create` (its last line)."""
    return packages_api(env, folder, "token", "create", name, timeout=120)


def packages_api(
    env: Mapping[str, str], folder: Path, *args: str, timeout: float
) -> str:
    """The last line `packages-api ARGS` prints; the run stops if it fails."""
    done = subprocess.run(
        [str(CLI), *args],
        env=dict(env),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode:
        command = " ".join(args[:2])
        raise SystemExit(f"packages-api {command} failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


# -- the environment of served processes ------------------------------------


def served_env(database_url: str, upstream_url: str, **extra: str) -> dict[str, str]:
    """The environment of every app process: only what the benchmark sets.

    Every setting the caller's environment holds is dropped (a token, say),
    and every upstream URL points at the stand-in on loopback. Processes run
    in the work folder, so no `.env` file is read either.
    """
    from app.config import Settings

    settings = {name.upper() for name in Settings.model_fields}
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in settings
        and not key.startswith(("RATE_LIMIT_", "CACHE_", "PROMETHEUS_"))
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "GITHUB_API_URL": upstream_url,
            "GITLAB_API_URL": f"{upstream_url}/gitlab",
            "BITBUCKET_API_URL": f"{upstream_url}/bitbucket",
            "CODEBERG_API_URL": f"{upstream_url}/codeberg",
            "PYPI_URL": upstream_url,
            "FETCH_ENABLED": "false",
            "LOAD_SAMPLE_DATA": "false",
            "LOG_FORMAT": "json",
            # Settings the service is about to get; harmless before then.
            "RATE_LIMIT_READS": "",
            "RATE_LIMIT_WRITES": "",
        }
    )
    env.update(extra)
    return env


def refresher_env(base: Mapping[str, str]) -> dict[str, str]:
    """A `packages-api worker` that always has work: everything due again at once."""
    return {
        **base,
        "GITHUB_TOKEN": DUMMY_TOKEN,
        "FETCH_INTERVAL": "1",
        "FETCH_CONCURRENCY": str(REFRESH_CONCURRENCY),
        "FETCH_POLL_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
    }


# -- processes -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Started:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[psutil.Process]:
        """The server's worker processes (uvicorn's spawned children), by pid."""
        try:
            parent = psutil.Process(self.process.pid)
            children = parent.children()
        except psutil.NoSuchProcess:
            return []
        found = [
            child
            for child in children
            if "resource_tracker" not in " ".join(_cmdline(child))
        ]
        return sorted(found, key=lambda one: one.pid) or [parent]


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


@dataclass
class Fleet:
    """Every process a benchmark started; `close` stops them all, by group id."""

    folder: Path
    started: list[Started] = field(default_factory=list)

    def start(
        self,
        name: str,
        command: Sequence[str],
        env: Mapping[str, str],
        port: int | None = None,
    ) -> Started:
        log = self.folder / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                list(command),
                env=dict(env),
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        one = Started(name, process, log, port)
        self.started.append(one)
        return one

    def serve(self, name: str, env: Mapping[str, str], workers: int) -> Started:
        port = free_port()
        command = [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port)]
        one = self.start(name, [*command, "--workers", str(workers)], env, port)
        wait_ready(one, "/readyz", workers, timeout=120)
        return one

    def ceiling(self, name: str, responses: Path, workers: int) -> Started:
        port = free_port()
        env = {**os.environ, "BENCH_CEILING_RESPONSES": str(responses)}
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "ceiling:app",
            "--app-dir",
            str(BENCH),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        one = self.start(name, command, env, port)
        wait_ready(one, "/_ready", workers, timeout=60)
        return one

    def upstream(self, latency: float) -> Started:
        port = free_port()
        command = [
            sys.executable,
            str(UPSTREAM),
            "--port",
            str(port),
            "--latency",
            str(latency),
        ]
        one = self.start("upstream", command, os.environ, port)
        wait_ready(one, "/_stats", 1, timeout=30)
        return one

    def refresher(self, env: Mapping[str, str]) -> Started:
        return self.start("refresher", [str(CLI), "worker"], refresher_env(env))

    def stop(self, one: Started, grace: float = 15) -> None:
        """SIGTERM to the process's own group, then SIGKILL after `grace`."""
        if one.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(one.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                one.process.wait(timeout=grace)
        # Whatever the group still holds (a worker left behind) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(one.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            one.process.wait(timeout=5)
        if one in self.started:
            self.started.remove(one)

    def close(self) -> None:
        for one in reversed(list(self.started)):
            self.stop(one, grace=10)


@contextlib.contextmanager
def fleet(folder: Path) -> Iterator[Fleet]:
    """A Fleet that is closed however the block ends (SIGTERM and SIGINT too)."""
    crew = Fleet(folder)

    def stop_now(signum: int, _frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    previous = {
        signum: signal.signal(signum, stop_now)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM)
    }
    try:
        yield crew
    finally:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        crew.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def time_limit(seconds: float) -> None:
    """The whole run stops (and cleans up) after this long, whatever happens."""
    signal.alarm(max(1, int(seconds)))


def wait_ready(one: Started, path: str, workers: int, timeout: float) -> None:
    """Until `path` answers 200 and every worker process is up."""
    deadline = time.monotonic() + timeout
    while True:
        if one.process.poll() is not None:
            tail = one.log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"{one.name} stopped while starting:\n{tail}")
        try:
            with urllib.request.urlopen(f"{one.url}{path}", timeout=5) as answer:
                ready = answer.status == 200
        except OSError:
            ready = False
        if ready and (workers == 1 or len(one.workers()) >= workers):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{one.name} did not get ready within {timeout:.0f} s")
        time.sleep(0.2)


def get(
    url: str, path: str, headers: Mapping[str, str] | None = None
) -> tuple[int, list[tuple[str, str]], bytes]:
    """One GET with only Host and the given headers, as wrk sends it."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, answer.getheaders(), answer.read()
    finally:
        connection.close()


# -- measuring processes ---------------------------------------------------


def cpu_seconds(processes: Sequence[psutil.Process]) -> list[float]:
    out = []
    for process in processes:
        try:
            times = process.cpu_times()
            out.append(times.user + times.system)
        except psutil.Error:
            out.append(0.0)
    return out


def rss_mib(processes: Sequence[psutil.Process]) -> list[float]:
    out = []
    for process in processes:
        try:
            out.append(process.memory_info().rss / 2**20)
        except psutil.Error:
            out.append(0.0)
    return out


def connections_held(processes: Sequence[psutil.Process], port: int) -> list[int]:
    """Established connections each process holds on its listening port."""
    out = []
    for process in processes:
        try:
            held = process.net_connections(kind="tcp")
        except psutil.Error:
            out.append(0)
            continue
        out.append(
            sum(
                1
                for one in held
                if one.status == psutil.CONN_ESTABLISHED
                and one.laddr
                and one.laddr.port == port
            )
        )
    return out


# -- wrk ---------------------------------------------------------------------


def ensure_wrk() -> str:
    """wrk's path; installs Debian's package when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is missing: apt-get install -y wrk", flush=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, timeout=600)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is still missing after apt-get install -y wrk")
    return found


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx_3xx: int
    socket_errors: dict[str, int]
    output: str

    @property
    def errors(self) -> int:
        return self.non_2xx_3xx + sum(self.socket_errors.values())


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_TIME = r"([\d.]+)(us|ms|s|m|h)"


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_wrk(output: str) -> WrkResult:
    """The figures of one `wrk --latency` run, from its printed report."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not total or not rps:
        raise ValueError(f"not a wrk report:\n{output}")
    percentiles = {
        int(match[1]): _ms(match[2], match[3])
        for match in re.finditer(rf"^\s+(\d+)%\s+{_TIME}\s*$", output, re.MULTILINE)
    }
    non = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = (
        dict(
            zip(
                ("connect", "read", "write", "timeout"),
                map(int, sockets.groups()),
                strict=True,
            )
        )
        if sockets
        else {}
    )
    return WrkResult(
        requests=int(total[1]),
        seconds=_ms(total[2], total[3]) / 1000,
        rps=float(rps[1]),
        p50_ms=percentiles.get(50, float("nan")),
        p99_ms=percentiles.get(99, float("nan")),
        non_2xx_3xx=int(non[1]) if non else 0,
        socket_errors=errors,
        output=output,
    )


def wrk_command(
    url: str,
    *,
    connections: int,
    seconds: float,
    headers: Sequence[str] = (),
    script: Path | None = None,
) -> list[str]:
    threads = 1 if connections == 1 else min(2, connections)
    command = [
        "wrk",
        "--latency",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
    ]
    for header in headers:
        command += ["-H", header]
    if script is not None:
        command += ["-s", str(script)]
    return [*command, url]


def run_wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    headers: Sequence[str] = (),
    script: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> WrkResult:
    command = wrk_command(
        url, connections=connections, seconds=seconds, headers=headers, script=script
    )
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        env=dict(env) if env is not None else None,
    )
    if done.returncode:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse_wrk(done.stdout)


def start_wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    headers: Sequence[str] = (),
    script: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[str]:
    """wrk in the background, for sampling the servers while it runs."""
    command = wrk_command(
        url, connections=connections, seconds=seconds, headers=headers, script=script
    )
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env) if env is not None else None,
    )


@contextlib.contextmanager
def stopped_on_error(process: subprocess.Popen[str]) -> Iterator[None]:
    """A background wrk is killed if the run stops while it runs."""
    try:
        yield
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait()
        raise


def finish_wrk(process: subprocess.Popen[str], seconds: float) -> WrkResult:
    try:
        out, err = process.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise SystemExit("wrk did not finish in time") from None
    if process.returncode:
        raise SystemExit(f"wrk failed ({process.returncode}): {err.strip()}")
    return parse_wrk(out)


def code_version() -> str:
    from refresh import code_version as version

    return version()


def upstream_stats(upstream: Started) -> dict[str, Any]:
    with urllib.request.urlopen(f"{upstream.url}/_stats", timeout=5) as answer:
        stats: dict[str, Any] = json.loads(answer.read())
    return stats


def upstream_reset(upstream: Started) -> None:
    request = urllib.request.Request(f"{upstream.url}/_reset", method="POST")
    with urllib.request.urlopen(request, timeout=5):
        pass
