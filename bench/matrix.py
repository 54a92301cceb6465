"""Benchmark a grid's matrix answer next to a plain package detail answer.

    python bench/matrix.py [--packages 50] [--features 30] [--requests 300]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/packages_api_bench]

For SQLite (always) and for the PostgreSQL database given (if any):

1. makes a fresh database, migrates it and fills one grid with `--packages`
   packages (with stats) by `--features` features, every cell written;
2. serves the real app (`packages-api serve`'s app factory, under uvicorn,
   one worker, refresh off) on a free port of 127.0.0.1;
3. asks, round after round, for one package's detail, the grid's matrix as
   JSON and the same matrix as CSV, over one keep-alive connection, and
   times each answer from request to last byte;
4. prints the median and p99 of each, and each one's median over the
   package detail's (the ratio), then stops the server.

Rounds interleave the three requests so that all three see the same state
of the machine. Nothing leaves it: the server binds 127.0.0.1, the client
refuses any other host, and `--database-url` must be a loopback host whose
database name has `bench` in it (or be given with `--recreate`), since it
is dropped and made again. The
run is bounded by `--requests` and by `--time-limit` seconds per database.
"""

import argparse
import asyncio
import contextlib
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serving import check_database_url, is_loopback  # noqa: E402

from app.db.engine import create_engine  # noqa: E402
from app.db.migrate import upgrade  # noqa: E402
from app.models import (  # noqa: E402
    Category,
    Grid,
    GridCell,
    GridFeature,
    Package,
    grid_packages,
)

GRID_SLUG = "bench-grid"
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
TEXTS = ("yes", "no", "partial", "3.9+", "Bootstrap 4 and 5", "via a plugin")


# -- the database -----------------------------------------------------------------


async def recreate_postgres(database_url: str) -> None:
    url = make_url(database_url)
    admin = create_engine(
        url.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        async with admin.connect() as connection:
            await connection.execute(
                text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
            )
            await connection.execute(text(f'CREATE DATABASE "{url.database}"'))
    finally:
        await admin.dispose()


async def prepare_database(database_url: str, packages: int, features: int) -> None:
    """A migrated database with one full grid, and a package outside it."""
    if database_url.startswith("postgresql"):
        await recreate_postgres(database_url)
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.begin() as connection:
            await connection.execute(
                insert(Category).values(
                    id=1, title="App", slug="apps", title_plural="Apps"
                )
            )
            await connection.execute(
                insert(Grid).values(
                    id=1,
                    title="Bench grid",
                    slug=GRID_SLUG,
                    created=EPOCH,
                    modified=EPOCH,
                )
            )
            await connection.execute(
                insert(Package),
                [
                    {
                        "id": i,
                        "title": f"django-bench-{i}",
                        "slug": f"django-bench-{i}",
                        "category_id": 1,
                        "repo_url": f"https://github.com/django-bench/django-bench-{i}",
                        "repo_key": f"https://github.com/django-bench/django-bench-{i}",
                        "pypi_url": f"https://pypi.org/project/django-bench-{i}/",
                        "repo_watchers": 1000 + 37 * i,
                        "repo_forks": 100 + 5 * i,
                        "pypi_version": f"{i % 5}.{i % 11}.{i % 3}",
                        "last_updated": EPOCH + timedelta(days=i),
                        "participants": [f"user{j}" for j in range(20)],
                        "commits_over_52": [i % 9] * 52,
                        "score": 900 + (i * 7919) % 4000,
                        "created": EPOCH,
                        "modified": EPOCH,
                    }
                    for i in range(1, packages + 2)
                ],
            )
            await connection.execute(
                insert(grid_packages),
                [{"grid_id": 1, "package_id": i} for i in range(1, packages + 1)],
            )
            await connection.execute(
                insert(GridFeature),
                [
                    {
                        "id": f,
                        "grid_id": 1,
                        "title": f"Feature {f}",
                        "description": f"What feature {f} compares.",
                        "order": f,
                        "created": EPOCH,
                        "modified": EPOCH,
                    }
                    for f in range(1, features + 1)
                ],
            )
            await connection.execute(
                insert(GridCell),
                [
                    {
                        "grid_id": 1,
                        "feature_id": f,
                        "package_id": p,
                        "text": TEXTS[(f * p) % len(TEXTS)],
                    }
                    for f in range(1, features + 1)
                    for p in range(1, packages + 1)
                ],
            )
    finally:
        await engine.dispose()


# -- the server ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def serve(database_url: str) -> Iterator[str]:
    """Run the app under uvicorn on loopback; yield its base URL; stop it."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "FETCH_ENABLED": "false",
        "LOAD_SAMPLE_DATA": "false",
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:serve_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base_url}/api/v4/", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the API server did not start") from None
                time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- measuring -------------------------------------------------------------------


def refuse_other_hosts(request: httpx.Request) -> None:
    if not is_loopback(request.url.host):
        raise RuntimeError(f"the benchmark may only reach loopback, not {request.url}")


@dataclass(slots=True)
class Timing:
    name: str
    seconds: list[float]
    size: int

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def p99_ms(self) -> float:
        return statistics.quantiles(self.seconds, n=100, method="inclusive")[98] * 1000


def check(name: str, response: httpx.Response, packages: int, features: int) -> None:
    """The answer is the one being measured, not an error that is fast."""
    if response.status_code != 200:
        raise RuntimeError(f"{name}: {response.status_code} {response.text[:200]}")
    if name == "matrix JSON":
        body = response.json()
        shape = (len(body["packages"]), len(body["features"]), len(body["cells"]))
        if shape != (packages, features, packages * features):
            raise RuntimeError(f"matrix JSON has the wrong shape: {shape}")
    if name == "matrix CSV" and response.text.count("\r\n") != 7 + features:
        raise RuntimeError("matrix CSV has the wrong number of rows")


def measure(base_url: str, args: argparse.Namespace) -> list[Timing]:
    paths = {
        "package detail": "/api/v4/packages/1/",
        "matrix JSON": f"/api/v4/grids/{GRID_SLUG}/matrix/",
        "matrix CSV": f"/api/v4/grids/{GRID_SLUG}/matrix/?format=csv",
    }
    timings = {name: Timing(name, [], 0) for name in paths}
    deadline = time.monotonic() + args.time_limit
    with httpx.Client(
        base_url=base_url,
        timeout=30,
        event_hooks={"request": [refuse_other_hosts]},
    ) as client:
        for round_number in range(args.warmup + args.requests):
            if time.monotonic() > deadline:
                raise RuntimeError(f"stopped at the time limit ({args.time_limit} s)")
            for name, path in paths.items():
                started = time.perf_counter()
                response = client.get(path)
                elapsed = time.perf_counter() - started
                if round_number == 0:
                    check(name, response, args.packages, args.features)
                    timings[name].size = len(response.content)
                elif response.status_code != 200:
                    raise RuntimeError(f"{name}: {response.status_code}")
                if round_number >= args.warmup:
                    timings[name].seconds.append(elapsed)
    return list(timings.values())


def report(database: str, timings: list[Timing]) -> None:
    detail = timings[0].median_ms
    print(f"\n{database}")
    print(
        f"  {'request':<16} {'n':>5} {'bytes':>8} {'median ms':>10} {'p99 ms':>8} {'ratio':>6}"
    )
    for timing in timings:
        print(
            f"  {timing.name:<16} {len(timing.seconds):>5} {timing.size:>8} "
            f"{timing.median_ms:>10.2f} {timing.p99_ms:>8.2f} "
            f"{timing.median_ms / detail:>6.1f}"
        )


def code_version() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head = "unknown"
    return head


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Matrix latency next to package detail latency, on loopback."
    )
    parser.add_argument("--packages", type=int, default=50)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--requests", type=int, default=300, help="per kind")
    parser.add_argument("--warmup", type=int, default=20, help="rounds not counted")
    parser.add_argument(
        "--time-limit", type=float, default=300, help="seconds per database"
    )
    parser.add_argument(
        "--database-url",
        help="also run on this PostgreSQL database (loopback, 'bench' in its name)",
    )
    parser.add_argument(
        "--recreate",
        action="store_true",
        help="drop and make again a --database-url without 'bench' in its name",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.packages <= 10_000 or not 1 <= args.features <= 1_000:
        parser.error("--packages is 1 to 10,000 and --features 1 to 1,000")
    if not 2 <= args.requests <= 100_000 or args.warmup < 1:
        parser.error("--requests is 2 to 100,000 and --warmup at least 1")
    if args.database_url and (
        why := check_database_url(
            args.database_url,
            "dropped and made again",
            bench_name=not args.recreate,
            or_else=", or say --recreate",
        )
    ):
        parser.error(f"--database-url: {why}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(
        f"matrix benchmark: {args.packages} packages x {args.features} features, "
        f"{args.requests} requests of each kind after {args.warmup} warm-up rounds; "
        f"code {code_version()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory(prefix="packages-matrix-bench-") as folder:
        databases = [("SQLite", f"sqlite+aiosqlite:///{folder}/bench.db")]
        if args.database_url:
            databases.append(("PostgreSQL", args.database_url))
        for name, url in databases:
            asyncio.run(prepare_database(url, args.packages, args.features))
            with serve(url) as base_url:
                report(name, measure(base_url, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
