"""The response cache: repeated public GETs from memory, never an old answer.

Every other test runs with the cache off so that each request reaches the
database; these turn it on. Changes made outside the app (as another
replica or a refresh worker would) are written straight to the database.
"""

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.main import create_app
from app.models import Package
from tests.api.conftest import Statements
from tests.factories import make_category, make_grid, make_package

# Last-Modified dates are given out once their second is over.
pytestmark = pytest.mark.usefixtures("settled")

URL = "/api/v4/packages/2403/"
# The longest a change made elsewhere may take to reach this process's cache.
BOUND = 1.0


@pytest.fixture
async def cached_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    changed = Settings(
        _env_file=None,  # type: ignore[call-arg]
        **{**settings.model_dump(), "response_cache_mb": 4},
    )
    application = create_app(changed, engine=engine)
    async with LifespanManager(application):
        await until(lambda: application.state.freshness.watching)
        yield application


@pytest.fixture
async def cached(cached_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=cached_app, client=("127.0.0.1", 123))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as c:
        yield c


@pytest.fixture
async def catalogue(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await make_category(sessionmaker)
    await make_grid(sessionmaker, id=7)
    await make_package(sessionmaker, id=2403, slug="example-package", grid_ids=(7,))
    await make_package(sessionmaker, id=2404, slug="other-package")


async def until(condition: object, within: float = 5.0) -> float:
    """Wait for `condition()` to hold; how long it took, in seconds."""
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - started < within, "condition never held"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def answering(seen: list[str]) -> list[str]:
    """The statements that answered requests: the change watcher's own
    look at `catalogue_changes` (SQLite) runs on the same engine, when it will."""
    return [statement for statement in seen if "catalogue_changes" not in statement]


async def retitle(sessionmaker: async_sessionmaker[AsyncSession], title: str) -> None:
    async with sessionmaker() as session:
        await session.execute(
            update(Package).where(Package.id == 2403).values(title=title)
        )
        await session.commit()


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(
    "path",
    [
        URL,
        "/api/v4/packages/example-package/",
        "/api/v4/packages/?limit=1&offset=1",
        "/api/v4/categories/",
        "/api/v4/grids/7/",
    ],
)
async def test_a_repeated_get_is_answered_from_memory_with_the_same_bytes(
    cached: httpx.AsyncClient, statements: Statements, path: str
) -> None:
    first = await cached.get(path)
    with statements.recording() as seen:
        again = await cached.get(path)

    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    # The same headers, but for the request id, which is each request's own.
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    del again.headers["x-request-id"], first.headers["x-request-id"]
    assert again.headers == first.headers
    assert answering(seen) == []


@pytest.mark.usefixtures("catalogue")
async def test_a_matching_if_none_match_gets_its_304_from_memory(
    cached: httpx.AsyncClient, statements: Statements
) -> None:
    first = await cached.get(URL)
    with statements.recording() as seen:
        same = await cached.get(URL, headers={"If-None-Match": first.headers["etag"]})
        since = await cached.get(
            URL, headers={"If-Modified-Since": first.headers["last-modified"]}
        )
        other = await cached.get(URL, headers={"If-None-Match": '"v0-00000000"'})

    assert answering(seen) == []
    for answer in (same, since):
        assert (answer.status_code, answer.content) == (304, b"")
        assert {
            name: answer.headers[name]
            for name in ("etag", "last-modified", "cache-control", "vary")
        } == {
            name: first.headers[name]
            for name in ("etag", "last-modified", "cache-control", "vary")
        }
        assert "content-type" not in answer.headers
    assert (other.status_code, other.content) == (200, first.content)


@pytest.mark.usefixtures("catalogue")
async def test_an_edit_through_this_process_is_seen_by_its_next_read(
    cached: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    before = await cached.get(URL)
    edited = await cached.patch(URL, json={"title": "Renamed"}, headers=auth)
    after = await cached.get(URL)

    assert before.json()["title"] == "Package 2403"
    assert edited.status_code == 200
    assert after.json()["title"] == "Renamed"
    assert after.headers["etag"] != before.headers["etag"]


@pytest.mark.usefixtures("catalogue")
async def test_a_change_made_elsewhere_is_seen_within_the_bound(
    cached: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    statements: Statements,
) -> None:
    listed = await cached.get("/api/v4/packages/")
    await cached.get(URL)
    with statements.recording() as seen:
        assert (await cached.get(URL)).json()["title"] == "Package 2403"
    assert answering(seen) == []

    await retitle(sessionmaker, "Changed elsewhere")

    async def title() -> str:
        return str((await cached.get(URL)).json()["title"])

    started = time.monotonic()
    while await title() != "Changed elsewhere":
        assert time.monotonic() - started < BOUND, "the old answer outlived the bound"
        await asyncio.sleep(0.02)
    relisted = await cached.get("/api/v4/packages/")
    assert relisted.headers["etag"] != listed.headers["etag"]
    assert [p["title"] for p in relisted.json()["results"]] == [
        "Package 2404",
        "Changed elsewhere",
    ]


@pytest.mark.usefixtures("catalogue")
async def test_requests_with_credentials_always_reach_the_service(
    cached: httpx.AsyncClient, statements: Statements, auth: dict[str, str]
) -> None:
    await cached.get(URL, headers=auth)
    with statements.recording() as seen:
        answer = await cached.get(URL, headers=auth)

    assert answer.status_code == 200
    assert len(answering(seen)) == 2, seen


@pytest.mark.usefixtures("catalogue")
async def test_answers_are_kept_apart_by_host_accept_and_query(
    cached: httpx.AsyncClient,
) -> None:
    plain = await cached.get(URL)
    other_host = await cached.get(URL, headers={"Host": "mirror.example"})
    page = await cached.get(URL, headers={"Accept": "text/html"})
    formatted = await cached.get(URL + "?format=json")
    again = await cached.get(URL, headers={"Host": "mirror.example"})

    assert plain.json()["grids"] == ["http://testserver/api/v4/grids/7/"]
    assert other_host.json()["grids"] == ["http://mirror.example/api/v4/grids/7/"]
    assert again.content == other_host.content
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert formatted.json()["grids"] == [
        "http://testserver/api/v4/grids/7/?format=json"
    ]


@pytest.mark.usefixtures("catalogue")
async def test_only_public_successes_are_kept(
    cached: httpx.AsyncClient, statements: Statements
) -> None:
    paths = ["/api/v4/packages/9999/", "/readyz", "/api/v4/packages/?limit=0"]
    for path in paths:
        await cached.get(path)
    counts = []
    for path in paths:
        with statements.recording() as seen:
            answer = await cached.get(path)
        counts.append((answer.status_code, len(answering(seen)) > 0))

    assert counts == [(404, True), (200, True), (422, False)]


@pytest.mark.usefixtures("catalogue")
async def test_concurrent_misses_build_the_answer_once(
    cached: httpx.AsyncClient, statements: Statements
) -> None:
    with statements.recording() as seen:
        answers = await asyncio.gather(*(cached.get(URL) for _ in range(20)))

    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert len(answering(seen)) == 2, seen


@pytest.mark.usefixtures("catalogue")
async def test_while_changes_cannot_be_heard_nothing_is_answered_from_memory(
    cached_app: FastAPI, cached: httpx.AsyncClient, statements: Statements
) -> None:
    await cached.get(URL)
    cached_app.state.freshness.deaf()
    with statements.recording() as seen:
        answer = await cached.get(URL)
        await cached.get(URL)

    assert answer.status_code == 200
    assert len(answering(seen)) == 4, seen
    cached_app.state.freshness.heard()


@pytest.mark.usefixtures("catalogue")
async def test_an_answer_from_memory_is_counted_and_logged_under_its_route(
    cached: httpx.AsyncClient,
) -> None:
    from app.ops.metrics import REQUESTS

    def answered(status: str) -> float:
        sample = REQUESTS.labels("GET", "/api/v4/packages/{package}/", status)
        return float(sample._value.get())

    await cached.get(URL)
    before = (answered("200"), answered("304"))
    again = await cached.get(URL)
    revalidated = await cached.get(
        URL, headers={"If-None-Match": again.headers["etag"]}
    )

    assert (again.status_code, revalidated.status_code) == (200, 304)
    assert revalidated.headers["allow"] == again.headers["allow"]
    assert (answered("200"), answered("304")) == (before[0] + 1, before[1] + 1)
