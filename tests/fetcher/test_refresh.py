"""Whole runs: many packages at once, due batches, and the background loop."""

import asyncio
from datetime import timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.base import utcnow
from app.fetcher.refresh import PackageOutcome, refresh_due, refresh_packages
from app.fetcher.scheduler import refresh_forever
from app.main import create_app
from tests.factories import EPOCH, make_package
from tests.fetcher.support import hits, json_response, stored
from tests.fetcher.test_github import EXAMPLE, serve_github3, serve_repo

pytestmark = pytest.mark.usefixtures("category")


async def test_many_packages_at_once_with_mixed_outcomes(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker, id=1, repo_url="https://github.com/sigmavirus24/github3.py"
    )
    await make_package(
        sessionmaker, id=2, repo_url="https://github.com/example-org/example-repo"
    )
    await make_package(
        sessionmaker, id=3, repo_url="https://github.com/example-org/gone-repo"
    )
    await make_package(
        sessionmaker, id=4, repo_url="https://github.com/example-org/down-repo"
    )
    await make_package(sessionmaker, id=5, pypi_url="same-pkg", pypi_version="1.0")
    await make_package(sessionmaker, id=6, pypi_url="new-pkg", pypi_version="1.0")
    # A host without a forge client: stored and served, never fetched.
    await make_package(sessionmaker, id=7, repo_url="https://git.example.org/g/p")
    serve_github3(upstream)
    serve_repo(upstream)
    upstream.expect_request("/repos/example-org/gone-repo").respond_with_response(
        json_response({"message": "Not Found"}, status=404)
    )
    upstream.expect_request("/repos/example-org/down-repo").respond_with_data(
        "down", status=503
    )
    for name, version in (("same-pkg", "1.0"), ("new-pkg", "1.1")):
        upstream.expect_request(f"/pypi/{name}/json").respond_with_response(
            json_response({"info": {"version": version}, "releases": {}})
        )
    progress: list[PackageOutcome] = []

    summary = await refresh_packages(
        fetch_settings,
        sessionmaker,
        http_client,
        slugs=[*(f"package-{i}" for i in range(1, 8)), "no-such-package", "package-1"],
        on_progress=progress.append,
    )

    assert (summary.updated, summary.unchanged, summary.failed) == (3, 2, 2)
    assert summary.missing == ["no-such-package"]
    assert {(o.package_id, o.status) for o in progress} == {
        (1, "updated"),
        (2, "updated"),
        (3, "failed"),
        (4, "failed"),
        (5, "unchanged"),
        (6, "updated"),
        (7, "unchanged"),
    }
    assert (await stored(sessionmaker, 3)).last_exception == "404 Not Found"
    assert (await stored(sessionmaker, 4)).last_exception == "transient: 503"
    assert (await stored(sessionmaker, 6)).pypi_version == "1.1"
    assert [(await stored(sessionmaker, i)).modified for i in range(1, 8)] == [
        EPOCH
    ] * 7


async def test_every_package_when_no_slugs_are_given(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker, id=1, repo_url="https://github.com/example-org/example-repo"
    )
    await make_package(sessionmaker, id=2)
    serve_repo(upstream, stars=3)

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    assert (summary.updated, summary.unchanged, summary.failed) == (1, 1, 0)
    assert summary.missing == []
    assert (await stored(sessionmaker, 1)).repo_watchers == 3
    assert (await stored(sessionmaker, 2)).last_fetched is not None


async def test_a_rate_limited_repository_is_transient_not_gone(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    # Case 007 A: the quota resets in ten minutes, longer than we may wait.
    await make_package(
        sessionmaker,
        id=1,
        repo_url="https://github.com/example-org/example-repo",
        repo_watchers=50,
    )
    reset = int(utcnow().timestamp()) + 600
    upstream.expect_request(EXAMPLE).respond_with_response(
        json_response(
            {"message": "API rate limit exceeded for user ID 1000001."},
            status=403,
            headers={
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(reset),
            },
        )
    )

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    # Not a failure: the package is tried again next round, values kept.
    package = await stored(sessionmaker, 1)
    assert (package.repo_watchers, package.last_exception) == (50, None)
    assert (package.last_exception_count, package.last_fetched) == (0, None)
    assert len(hits(upstream, EXAMPLE)) == 1
    assert (summary.rate_limited, summary.failed) == (1, 0)


async def test_due_packages_are_picked_oldest_first_in_batches(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    now = utcnow()
    await make_package(sessionmaker, id=1, last_fetched=now - timedelta(days=2))
    await make_package(sessionmaker, id=2, last_fetched=None)
    await make_package(sessionmaker, id=3, last_fetched=now - timedelta(days=5))
    await make_package(sessionmaker, id=4, last_fetched=now - timedelta(hours=1))
    await make_package(
        sessionmaker,
        id=5,
        last_fetched=None,
        last_exception="transient: 503",
        last_exception_at=now - timedelta(hours=1),
    )
    batch_of_two = fetch_settings.model_copy(update={"fetch_batch_size": 2})

    first = await refresh_due(batch_of_two, sessionmaker, http_client, owner="test")
    fetched_first = [
        i
        for i in range(1, 6)
        if (fetched := (await stored(sessionmaker, i)).last_fetched) and fetched > now
    ]
    second = await refresh_due(batch_of_two, sessionmaker, http_client, owner="test")
    third = await refresh_due(batch_of_two, sessionmaker, http_client, owner="test")

    assert fetched_first == [2, 3]
    assert (first.unchanged, second.unchanged, third.unchanged) == (2, 1, 0)
    package_4 = await stored(sessionmaker, 4)
    assert package_4.last_fetched == now - timedelta(hours=1)
    assert (await stored(sessionmaker, 5)).last_fetched is None


async def test_the_background_loop_refreshes_and_survives_errors(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker, id=1, repo_url="https://github.com/example-org/example-repo"
    )
    await make_package(
        sessionmaker, id=2, repo_url="https://github.com/example-org/gone-repo"
    )
    serve_repo(upstream, stars=21)
    upstream.expect_request("/repos/example-org/gone-repo").respond_with_response(
        json_response({"message": "Not Found"}, status=404)
    )
    quick = fetch_settings.model_copy(update={"fetch_poll_seconds": 0.05})

    loop = asyncio.create_task(refresh_forever(quick, sessionmaker, http_client))
    for _ in range(100):
        await asyncio.sleep(0.02)
        if len(upstream.log) >= 5:
            break
    await asyncio.sleep(0.2)  # several more polls: nothing is due any more
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop

    assert (await stored(sessionmaker, 1)).repo_watchers == 21
    assert (await stored(sessionmaker, 2)).last_exception == "404 Not Found"
    assert len(hits(upstream, EXAMPLE)) == 1
    assert len(hits(upstream, "/repos/example-org/gone-repo")) == 1


async def test_the_app_runs_the_background_refresh(
    fetch_settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker, id=1, repo_url="https://github.com/example-org/example-repo"
    )
    serve_repo(upstream, stars=4)
    enabled = fetch_settings.model_copy(
        update={"fetch_enabled": True, "fetch_poll_seconds": 0.05}
    )

    async with LifespanManager(create_app(enabled, engine=engine)):
        for _ in range(100):
            if (await stored(sessionmaker, 1)).last_fetched is not None:
                break
            await asyncio.sleep(0.02)

    assert (await stored(sessionmaker, 1)).repo_watchers == 4
    assert len(hits(upstream, EXAMPLE)) == 1
