"""Sharing the refresh: leases, several workers, shutdown, refresh on request."""

import asyncio
import time
from datetime import timedelta

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from werkzeug import Request, Response

from app.config import Settings
from app.db.base import utcnow
from app.fetcher import leases
from app.fetcher.refresh import RefreshSummary, refresh_due
from app.fetcher.scheduler import refresh_forever
from app.models import Package, PackageRefresh
from tests.factories import make_package
from tests.fetcher.support import json_response, stored

pytestmark = pytest.mark.usefixtures("category")


def serve_pypi(upstream: HTTPServer, names: list[str], delay: float = 0.0) -> None:
    """PyPI answers for every name, each after `delay` seconds."""

    def answer(request: Request) -> Response:
        time.sleep(delay)
        name = request.path.split("/")[2]
        return json_response({"info": {"name": name, "version": "1.0"}, "releases": {}})

    for name in names:
        upstream.expect_request(f"/pypi/{name}/json").respond_with_handler(answer)


def requests_per_name(upstream: HTTPServer) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request, _ in upstream.log:
        name = request.path.split("/")[2]
        counts[name] = counts.get(name, 0) + 1
    return counts


async def refresh_rows(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> list[tuple[int, str | None, str | None]]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(
                PackageRefresh.package_id,
                PackageRefresh.state,
                PackageRefresh.lease_owner,
            ).order_by(PackageRefresh.package_id)
        )
        return [tuple(row) for row in rows]


async def drain(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    owner: str,
) -> list[RefreshSummary]:
    """Run one worker's rounds until it finds nothing due."""
    rounds = []
    while (
        summary := await refresh_due(settings, sessionmaker, http_client, owner=owner)
    ).total:
        rounds.append(summary)
    return rounds


async def test_two_workers_split_a_round_and_fetch_no_package_twice(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    database_url: str,
) -> None:
    names = [f"pkg{i}" for i in range(1, 41)]
    for number, name in enumerate(names, start=1):
        await make_package(sessionmaker, id=number, slug=name, pypi_url=name)
    serve_pypi(upstream, names, delay=0.02)
    worker = fetch_settings.model_copy(
        update={"fetch_batch_size": 8, "fetch_concurrency": 4}
    )

    first, second = await asyncio.gather(
        drain(worker, sessionmaker, http_client, "worker-a"),
        drain(worker, sessionmaker, http_client, "worker-b"),
    )

    assert requests_per_name(upstream) == dict.fromkeys(names, 1)
    fetched = [sum(s.updated for s in rounds) for rounds in (first, second)]
    assert sum(fetched) == 40
    if database_url.startswith("postgresql"):
        # Row locks let both claim at once; each got a real share.
        assert min(fetched) >= 8
    assert await refresh_rows(sessionmaker) == [(i, "done", None) for i in range(1, 41)]
    for number in (1, 40):
        assert (await stored(sessionmaker, number)).pypi_version == "1.0"


async def test_a_dead_workers_packages_are_taken_over_when_its_lease_expires(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(sessionmaker, id=1, slug="one", pypi_url="one")
    await make_package(sessionmaker, id=2, slug="two", pypi_url="two")
    serve_pypi(upstream, ["one", "two"])
    now = utcnow()
    async with sessionmaker() as session:
        await leases.add_missing_rows(session, fetch_settings.fetch_interval)
        held = await leases.claim_due(
            session, owner="dead", limit=1, lease=timedelta(minutes=10), now=now
        )
        await session.commit()
    assert held == [1]

    while_held = await refresh_due(fetch_settings, sessionmaker, http_client, owner="b")
    async with sessionmaker() as session:
        await session.execute(
            update(PackageRefresh)
            .where(PackageRefresh.package_id == 1)
            .values(lease_expires_at=now - timedelta(seconds=1))
        )
        await session.commit()
    after_expiry = await refresh_due(
        fetch_settings, sessionmaker, http_client, owner="b"
    )

    assert (while_held.updated, after_expiry.updated) == (1, 1)
    assert requests_per_name(upstream) == {"two": 1, "one": 1}
    assert [request.path for request, _ in upstream.log] == [
        "/pypi/two/json",
        "/pypi/one/json",
    ]
    assert await refresh_rows(sessionmaker) == [(1, "done", None), (2, "done", None)]


async def test_stopping_lets_fetches_in_flight_finish_and_gives_back_the_rest(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    names = [f"pkg{i}" for i in range(1, 7)]
    for number, name in enumerate(names, start=1):
        await make_package(sessionmaker, id=number, slug=name, pypi_url=name)
    serve_pypi(upstream, names, delay=0.3)
    settings = fetch_settings.model_copy(
        update={"fetch_concurrency": 2, "fetch_shutdown_grace": 0.15}
    )
    stop = asyncio.Event()

    loop = asyncio.create_task(
        refresh_forever(settings, sessionmaker, http_client, stop=stop)
    )
    await asyncio.sleep(0.1)  # two fetches are in flight, four wait for a slot
    stop.set()
    await asyncio.wait_for(loop, timeout=2)

    rows = await refresh_rows(sessionmaker)
    assert [owner for _, _, owner in rows] == [None] * 6
    done = [package for package, state, _ in rows if state == "done"]
    given_back = [package for package, state, _ in rows if state is None]
    assert len(done) + len(given_back) == 6
    assert len(done) <= 2
    for package in done:
        assert (await stored(sessionmaker, package)).pypi_version == "1.0"
    for package in given_back:
        assert (await stored(sessionmaker, package)).pypi_version == ""
    async with sessionmaker() as session:
        again = await leases.claim_due(
            session, owner="next", limit=10, lease=timedelta(minutes=1), now=utcnow()
        )
    assert again == given_back


async def test_a_request_queues_one_refresh_until_it_has_run(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await make_package(sessionmaker, id=1, slug="one", pypi_url="one")
    now = utcnow()

    async with sessionmaker() as session:
        first = await leases.request_now(session, 1, now=now)
        second = await leases.request_now(session, 1, now=now + timedelta(seconds=1))
        await session.commit()
    async with sessionmaker() as session:
        await leases.add_missing_rows(session, fetch_settings.fetch_interval)
        claimed = await leases.claim_due(
            session, owner="w", limit=5, lease=timedelta(minutes=1), now=now
        )
        while_running = await leases.request_now(session, 1, now=now)
        await leases.finish(
            session, [1], owner="w", ok=True, next_due=now + timedelta(days=1), now=now
        )
        after = await leases.request_now(session, 1, now=now + timedelta(seconds=2))
        await session.commit()

    assert (first, second, while_running, after) == (True, False, False, True)
    assert claimed == [1]
    assert await refresh_rows(sessionmaker) == [(1, "queued", None)]


async def test_the_first_claim_after_an_import_leaves_the_planner_knowing_the_rows(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    """A catalogue imported and analysed has no refresh rows yet; the first
    claim adds one per package. PostgreSQL must plan the next claims with the
    table as it now is, not as empty (every claim would then compare every
    package with every row until autovacuum came by)."""
    async with sessionmaker() as session:
        await session.execute(
            insert(Package),
            [
                {"id": i, "title": f"P{i}", "slug": f"p{i}", "category_id": 1}
                for i in range(1, 2501)
            ],
        )
        await session.commit()
    postgresql = database_url.startswith("postgresql")
    if postgresql:
        async with sessionmaker() as session:
            await session.execute(text("ANALYZE package_refreshes"))
            await session.commit()

    async with sessionmaker() as session:
        added = await leases.add_missing_rows(session, fetch_settings.fetch_interval)
        await session.commit()

    assert added == 2500  # in three statements of at most a thousand rows
    async with sessionmaker() as session:
        assert (
            await session.scalar(select(func.count(PackageRefresh.package_id))) == 2500
        )
        if postgresql:
            known = await session.scalar(
                text(
                    "SELECT reltuples FROM pg_class WHERE relname = 'package_refreshes'"
                )
            )
            assert known == 2500
