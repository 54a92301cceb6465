"""Benchmark search on the full 17,694-package catalogue, next to a package detail.

    python bench/search.py [--rounds 5] [--quick]
                           [--database-url URL --empty-ok]

What runs, for SQLite (a file in a temporary folder) and, with
`--database-url`, PostgreSQL:

- a fresh database, migrated with the real migrations, gets the whole
  catalogue of tests/data/catalog/pypi-django-packages.tsv, loaded as the
  relevance tests load it (tests/search/catalogue.py);
- the real app answers through httpx's ASGI transport in this process (no
  socket, nothing leaves the process), with the background refresh off;
- after one warm-up pass, every round asks each relevance query of
  tests/search/test_relevance.py (`GET /api/v4/search/?q=...&limit=20`),
  and after each search one plain package detail
  (`GET /api/v4/packages/django-debug-toolbar/`) and one filtered list
  (`GET /api/v4/packages/?category=apps&ordering=-last_released`), so the
  three are measured under the same conditions.

What is printed, per database and request kind: the number of requests,
the median and the 99th percentile latency in milliseconds, and each as a
multiple of the package detail's. The run is bounded: `--rounds` (default
5; 2 with `--quick`) passes, and the whole run stops after `--time-limit`
seconds. The PostgreSQL database must be on loopback, and since it is
emptied (its public schema dropped and made again) `--empty-ok` must be
given as well.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serving import check_database_url  # noqa: E402

from app.config import Settings  # noqa: E402
from app.db.engine import create_engine, create_sessionmaker  # noqa: E402
from app.db.migrate import upgrade  # noqa: E402
from app.main import create_app  # noqa: E402
from tests.search.catalogue import load_catalogue  # noqa: E402
from tests.search.test_relevance import QUERIES  # noqa: E402

DETAIL = "/api/v4/packages/django-debug-toolbar/"
LIST = "/api/v4/packages/?category=apps&ordering=-last_released"
NOWHERE = "http://127.0.0.1:9"  # every upstream; never asked, refresh is off


async def empty_postgres(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


def settings_for(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        github_api_url=NOWHERE,
        gitlab_api_url=NOWHERE,
        bitbucket_api_url=NOWHERE,
        codeberg_api_url=NOWHERE,
        pypi_url=NOWHERE,
        github_token=None,
        fetch_enabled=False,
        load_sample_data=False,
        log_level="WARNING",
    )


async def timed(call: Callable[[], Awaitable[httpx.Response]]) -> float:
    started = time.perf_counter()
    response = await call()
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.url} answered {response.status_code}")
    return elapsed


async def measure(database_url: str, rounds: int) -> dict[str, list[float]]:
    if not database_url.startswith("sqlite"):
        await empty_postgres(database_url)
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        started = time.perf_counter()
        loaded = await load_catalogue(create_sessionmaker(engine))
        print(f"  loaded {loaded} packages in {time.perf_counter() - started:.1f} s")

        app = create_app(settings_for(database_url), engine=engine)
        latencies: dict[str, list[float]] = {"search": [], "detail": [], "list": []}
        transport = httpx.ASGITransport(app=app)
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
        ):
            for round_number in range(rounds + 1):
                warm_up = round_number == 0
                for query, _wanted, _first in QUERIES:
                    search = await timed(
                        lambda q=query: client.get(
                            "/api/v4/search/", params={"q": q, "limit": 20}
                        )
                    )
                    detail = await timed(lambda: client.get(DETAIL))
                    listing = await timed(lambda: client.get(LIST))
                    if not warm_up:
                        latencies["search"].append(search)
                        latencies["detail"].append(detail)
                        latencies["list"].append(listing)
        return latencies
    finally:
        await engine.dispose()


def report(name: str, latencies: dict[str, list[float]]) -> None:
    def p99(values: list[float]) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[98]

    base_median = statistics.median(latencies["detail"])
    base_p99 = p99(latencies["detail"])
    print(f"\n{name}")
    print(
        f"  {'request':<28} {'n':>5} {'median ms':>10} {'p99 ms':>9} "
        f"{'median / detail':>16} {'p99 / detail':>13}"
    )
    labels = {
        "search": "search (relevance queries)",
        "detail": "package detail",
        "list": "filtered, ordered list",
    }
    for kind, values in latencies.items():
        median, tail = statistics.median(values), p99(values)
        print(
            f"  {labels[kind]:<28} {len(values):>5} {median * 1000:>10.2f} "
            f"{tail * 1000:>9.2f} {median / base_median:>16.1f} {tail / base_p99:>13.1f}"
        )


async def run(args: argparse.Namespace) -> None:
    databases: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="search-bench-") as folder:
        databases.append(("SQLite", f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"))
        if args.database_url:
            databases.append(("PostgreSQL", args.database_url))
        for name, url in databases:
            print(f"{name}: {len(QUERIES)} queries x {args.rounds} rounds")
            report(name, await measure(url, args.rounds))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="two rounds")
    parser.add_argument("--database-url", help="also run on this PostgreSQL database")
    parser.add_argument(
        "--empty-ok", action="store_true", help="the PostgreSQL database may be emptied"
    )
    parser.add_argument("--time-limit", type=float, default=600.0)
    args = parser.parse_args()
    args.rounds = args.rounds or (2 if args.quick else 5)
    if args.database_url and (
        problem := check_database_url(args.database_url, "emptied", bench_name=False)
        or (
            None
            if args.empty_ok
            else "the database is emptied first: say so with --empty-ok"
        )
    ):
        parser.error(problem)
    try:
        asyncio.run(asyncio.wait_for(run(args), timeout=args.time_limit))
    except TimeoutError:
        print(
            f"stopped: over the time limit of {args.time_limit:.0f} s", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
