"""HTTP caching and safe edits: ETag, Last-Modified, 304, Cache-Control, If-Match."""

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.fetcher import repository as fetched
from app.main import create_app
from app.models import Package
from app.packages import repository
from tests.api.conftest import ClientFactory, Statements
from tests.api.problems import problem
from tests.factories import EPOCH, make_category, make_grid, make_package

# Last-Modified dates are given out once their second is over.
pytestmark = pytest.mark.usefixtures("settled")

URL = "/api/v4/packages/2403/"
CACHE_CONTROL = (
    "public, max-age=0, s-maxage=60, stale-while-revalidate=30, stale-if-error=86400"
)
GETS = [
    "/api/v4/",
    "/api/v4/packages/",
    "/api/v4/packages/?limit=1&offset=1",
    URL,
    "/api/v4/packages/example-package/",
    "/api/v4/packages/2403/fetch/",
    "/api/v4/categories/",
    "/api/v4/categories/1/",
    "/api/v4/grids/",
    "/api/v4/grids/7/",
    "/api/v4/grids/grid-7/",
]
# A browsable page's tag is its JSON's, marked `-html`.
ITEM_ETAG = re.compile(r'^"v[0-9]+-[0-9a-f]{8}(-html)?"$')
DIGEST_ETAG = re.compile(r'^"[0-9a-f]{16}"$')


@pytest.fixture
async def catalogue(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await make_category(sessionmaker)
    await make_grid(sessionmaker, id=7)
    await make_grid(sessionmaker, id=8)
    await make_package(sessionmaker, id=2403, slug="example-package", grid_ids=(7,))
    await make_package(sessionmaker, id=2404, slug="other-package")


def version_of(etag: str) -> int:
    """The row version an item's ETag names: `"v5-1a2b3c4d"` is 5, and so
    is its page's `"v5-1a2b3c4d-html"`."""
    match = ITEM_ETAG.match(etag)
    assert match is not None, etag
    return int(etag[2:].split("-")[0])


async def etag_of(client: httpx.AsyncClient, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200
    return response.headers["etag"]


# -- every GET carries validators and cache headers ---------------------------


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("path", GETS)
async def test_every_get_carries_validators_and_cache_control(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    head = await client.head(path)

    assert response.status_code == 200
    etag = response.headers["etag"]
    assert ITEM_ETAG.match(etag) or DIGEST_ETAG.match(etag), etag
    last_modified = parsedate_to_datetime(response.headers["last-modified"])
    assert last_modified <= datetime.now(UTC)
    # A fetch state moves with every lease a refresher takes: asked again
    # every time, never kept by a cache.
    expected = "no-cache" if path.endswith("/fetch/") else CACHE_CONTROL
    assert response.headers["cache-control"] == expected
    assert response.headers["vary"] == "Accept"
    assert (head.headers["etag"], head.headers["last-modified"]) == (
        etag,
        response.headers["last-modified"],
    )


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("path", GETS)
async def test_a_matching_if_none_match_is_304_without_a_body(
    client: httpx.AsyncClient, path: str
) -> None:
    first = await client.get(path)
    etag = first.headers["etag"]

    again = await client.get(path, headers={"If-None-Match": etag})
    head = await client.head(path, headers={"If-None-Match": f'"other", {etag}'})
    weak = await client.get(path, headers={"If-None-Match": f"W/{etag}"})
    star = await client.get(path, headers={"If-None-Match": "*"})
    stale = await client.get(path, headers={"If-None-Match": '"v0-00000000"'})

    assert [r.status_code for r in (again, head, weak, star, stale)] == [
        304,
        304,
        304,
        304,
        200,
    ]
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["last-modified"] == first.headers["last-modified"]
    assert again.headers["cache-control"] == first.headers["cache-control"]
    assert stale.json() == first.json()


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("path", GETS)
async def test_if_modified_since_is_304_until_a_later_change(
    client: httpx.AsyncClient, path: str
) -> None:
    first = await client.get(path)
    last_modified = parsedate_to_datetime(first.headers["last-modified"])
    earlier = format_datetime(last_modified - timedelta(seconds=1), usegmt=True)

    same = await client.get(
        path, headers={"If-Modified-Since": first.headers["last-modified"]}
    )
    older = await client.get(path, headers={"If-Modified-Since": earlier})
    garbled = await client.get(path, headers={"If-Modified-Since": "yesterday"})
    # If-None-Match decides when both are sent.
    both = await client.get(
        path,
        headers={
            "If-None-Match": '"v0-00000000"',
            "If-Modified-Since": first.headers["last-modified"],
        },
    )

    assert (same.status_code, same.content) == (304, b"")
    assert [r.status_code for r in (older, garbled, both)] == [200, 200, 200]


@pytest.mark.usefixtures("catalogue")
async def test_no_last_modified_is_given_out_in_the_second_of_a_change(
    client_with: ClientFactory, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real clock: an edit in the same second as a read must not leave
    # the reader's If-Modified-Since matching the edited version.
    monkeypatch.undo()
    async with client_with() as live:
        await asyncio.sleep(1.05 - time.time() % 1)  # early in a second
        edit = await live.patch(URL, headers=auth, json={"title": "Now"})
        read = await live.get(URL)
        await asyncio.sleep(1.1)
        later = await live.get(URL)
        revalidated = await live.get(
            URL, headers={"If-Modified-Since": later.headers["last-modified"]}
        )

    assert edit.status_code == 200
    assert "last-modified" not in edit.headers
    assert ("last-modified" in read.headers, read.headers["etag"]) == (
        False,
        edit.headers["etag"],
    )
    assert parsedate_to_datetime(later.headers["last-modified"]) <= datetime.now(UTC)
    assert revalidated.status_code == 304


@pytest.mark.usefixtures("catalogue")
async def test_a_304_costs_one_query_and_builds_nothing(
    client: httpx.AsyncClient, statements: Statements
) -> None:
    etags = {path: await etag_of(client, path) for path in GETS}

    counts = {}
    for path, etag in etags.items():
        with statements.recording() as seen:
            response = await client.get(path, headers={"If-None-Match": etag})
        assert response.status_code == 304
        counts[path] = len(seen)

    assert counts == {
        "/api/v4/": 0,
        "/api/v4/packages/": 1,
        "/api/v4/packages/?limit=1&offset=1": 1,
        URL: 1,
        "/api/v4/packages/example-package/": 1,
        # The fetch state is validated by its content: read, not serialised.
        "/api/v4/packages/2403/fetch/": 3,
        "/api/v4/categories/": 1,
        "/api/v4/categories/1/": 1,
        "/api/v4/grids/": 1,
        "/api/v4/grids/7/": 1,
        "/api/v4/grids/grid-7/": 1,
    }


# -- what moves an ETag ---------------------------------------------------------


@pytest.mark.usefixtures("catalogue")
async def test_the_etag_shows_the_link_context_and_nothing_else(
    client: httpx.AsyncClient, client_with: ClientFactory
) -> None:
    plain = await etag_of(client, URL)
    by_slug = await etag_of(client, "/api/v4/packages/example-package/")
    as_api = await etag_of(client, f"{URL}?format=api")
    other_host = await etag_of(client, f"http://elsewhere.example{URL}")
    async with client_with(time_zone="Europe/Paris") as paris:
        in_paris = await etag_of(paris, URL)

    assert plain == by_slug
    assert len({plain, as_api, other_host, in_paris}) == 4
    assert len({version_of(tag) for tag in (plain, as_api, other_host)}) == 1


@pytest.mark.usefixtures("catalogue")
async def test_an_edit_moves_the_etag_and_last_modified_of_what_shows_it(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    paths = [URL, "/api/v4/packages/", "/api/v4/grids/7/", "/api/v4/grids/8/"]
    before = {path: (await client.get(path)).headers for path in paths}
    untouched = await etag_of(client, "/api/v4/packages/2404/")

    edit = await client.patch(URL, headers=auth, json={"grids": [8]})
    after = {path: (await client.get(path)).headers for path in paths}

    assert edit.status_code == 200
    assert edit.headers["etag"] == after[URL]["etag"]
    assert edit.headers["last-modified"] == after[URL]["last-modified"]
    for path in paths:
        assert after[path]["etag"] != before[path]["etag"], path
        assert parsedate_to_datetime(
            after[path]["last-modified"]
        ) >= parsedate_to_datetime(before[path]["last-modified"])
    assert await etag_of(client, "/api/v4/packages/2404/") == untouched


@pytest.mark.usefixtures("catalogue")
async def test_an_empty_patch_keeps_the_etag(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    etag = await etag_of(client, URL)

    response = await client.patch(URL, headers=auth, json={})

    assert (response.status_code, response.headers["etag"]) == (200, etag)
    assert await etag_of(client, URL) == etag


@pytest.mark.usefixtures("catalogue")
async def test_every_kind_of_fetch_write_moves_the_etag(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # A full fetch sets last_fetched; a failed or rate-limited one stores
    # what it got without it. Every one of them is a new version.
    seen = [await etag_of(client, URL)]
    at = datetime.now(UTC)
    writes = [
        lambda s: fetched.save_success(s, 2403, {"repo_watchers": 5}, at=at),
        lambda s: fetched.save_failure(s, 2403, {}, message="boom", at=at),
        lambda s: fetched.save_values(s, 2403, {"repo_forks": 3}),
        lambda s: fetched.fill_documentation_url(s, 2403, "https://docs.example/"),
    ]

    for write in writes:
        async with sessionmaker() as session:
            await write(session)
            await session.commit()
        seen.append(await etag_of(client, URL))

    assert len(set(seen)) == len(writes) + 1
    first = version_of(seen[0])
    assert [version_of(tag) for tag in seen] == [first + n for n in range(5)]


async def test_a_deletion_moves_the_list_validators(
    client: httpx.AsyncClient,
    admin_auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # Last changed long ago, so the deletion is seconds later (HTTP dates
    # are to the second; the ETag moves within one).
    await make_category(sessionmaker)
    await make_package(sessionmaker, id=2403, changed_at=EPOCH)
    await make_package(sessionmaker, id=2404, changed_at=EPOCH)
    before = await client.get("/api/v4/packages/?limit=1")

    deleted = await client.delete("/api/v4/packages/2403/", headers=admin_auth)
    after = await client.get(
        "/api/v4/packages/?limit=1",
        headers={"If-Modified-Since": before.headers["last-modified"]},
    )

    assert deleted.status_code == 204, deleted.text
    assert after.status_code == 200
    assert before.headers["last-modified"] == "Wed, 01 Jan 2025 00:00:00 GMT"
    # The page shows the same package, but the count changed.
    assert before.json()["results"][0]["id"] == after.json()["results"][0]["id"]
    assert after.json()["count"] == 1
    assert after.headers["etag"] != before.headers["etag"]


@pytest.mark.usefixtures("catalogue")
async def test_replicas_on_one_database_agree_on_validators(
    client: httpx.AsyncClient, settings: Settings, auth: dict[str, str]
) -> None:
    await client.patch(URL, headers=auth, json={"title": "Edited"})
    replica = create_app(settings)  # its own engine and pool

    async with (
        LifespanManager(replica),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=replica), base_url="http://testserver"
        ) as other,
    ):
        theirs = {path: (await other.get(path)).headers for path in GETS}
    ours = {path: (await client.get(path)).headers for path in GETS}

    assert {p: (h["etag"], h["last-modified"]) for p, h in theirs.items()} == {
        p: (h["etag"], h["last-modified"]) for p, h in ours.items()
    }


async def test_cache_control_follows_the_settings(
    client_with: ClientFactory, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)

    async with client_with(
        cache_max_age=10,
        cache_shared_max_age=300,
        cache_stale_while_revalidate=0,
        cache_stale_if_error=0,
    ) as client:
        response = await client.get("/api/v4/categories/1/")

    assert response.headers["cache-control"] == "public, max-age=10, s-maxage=300"


async def test_errors_carry_no_validators(client: httpx.AsyncClient) -> None:
    response = await client.get(URL)

    assert response.status_code == 404
    assert "etag" not in response.headers
    assert "last-modified" not in response.headers


# -- If-Match: edits of a version the client has seen ---------------------------


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("format_", ["", "?format=api", "?format=json"])
async def test_patch_with_the_current_etag_succeeds(
    client: httpx.AsyncClient, auth: dict[str, str], format_: str
) -> None:
    etag = await etag_of(client, f"{URL}{format_}")

    response = await client.patch(
        URL, headers={**auth, "If-Match": etag}, json={"title": "Mine"}
    )

    assert response.status_code == 200
    assert response.json()["title"] == "Mine"
    assert version_of(response.headers["etag"]) == version_of(etag) + 1


@pytest.mark.usefixtures("catalogue")
async def test_two_editors_with_one_etag_cannot_overwrite_each_other(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    etag = await etag_of(client, URL)

    first = await client.patch(
        URL, headers={**auth, "If-Match": etag}, json={"title": "First"}
    )
    second = await client.patch(
        URL, headers={**auth, "If-Match": etag}, json={"title": "Second"}
    )

    assert first.status_code == 200
    assert second.status_code == 412
    assert second.headers["content-type"] == "application/problem+json"
    assert second.json() == problem(
        412,
        f"The package has changed: If-Match {etag} is not its current ETag "
        f"{first.headers['etag']}. GET it again and reapply the change.",
        URL,
    )
    assert second.headers["etag"] == first.headers["etag"]
    assert (await client.get(URL)).json()["title"] == "First"


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(
    ("if_match", "status"),
    [
        ("*", 200),
        ('"v0-00000000", CURRENT', 200),
        ("W/CURRENT", 412),
        ('"v0-00000000"', 412),
        ("not even a tag", 412),
    ],
)
async def test_if_match_forms(
    client: httpx.AsyncClient, auth: dict[str, str], if_match: str, status: int
) -> None:
    etag = await etag_of(client, URL)
    header = if_match.replace("CURRENT", etag)

    response = await client.patch(
        URL, headers={**auth, "If-Match": header}, json={"title": "Changed"}
    )

    assert response.status_code == status
    assert (await client.get(URL)).json()["title"] == (
        "Changed" if status == 200 else "Package 2403"
    )


@pytest.mark.usefixtures("catalogue")
async def test_patch_without_if_match_still_works(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.patch(URL, headers=auth, json={"title": "Anyway"})

    assert response.status_code == 200
    assert response.json()["title"] == "Anyway"


@pytest.mark.usefixtures("catalogue")
async def test_if_unmodified_since_before_the_last_change_is_412(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    long_ago = format_datetime(datetime(2020, 1, 1, tzinfo=UTC), usegmt=True)
    later = format_datetime(datetime.now(UTC) + timedelta(minutes=1), usegmt=True)

    refused = await client.patch(
        URL, headers={**auth, "If-Unmodified-Since": long_ago}, json={"title": "x"}
    )
    accepted = await client.patch(
        URL, headers={**auth, "If-Unmodified-Since": later}, json={"title": "y"}
    )

    assert refused.status_code == 412
    assert refused.json()["detail"] == (
        f"The package has changed since {long_ago}. GET it again and reapply the change."
    )
    assert accepted.status_code == 200


@pytest.mark.usefixtures("catalogue")
async def test_delete_honours_if_match(
    client: httpx.AsyncClient,
    admin_auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    etag = await etag_of(client, URL)
    async with sessionmaker() as session:  # someone else edits meanwhile
        await session.execute(
            update(Package).where(Package.id == 2403).values(title="Theirs")
        )
        await session.commit()

    stale = await client.delete(URL, headers={**admin_auth, "If-Match": etag})
    current = await client.delete(
        URL, headers={**admin_auth, "If-Match": await etag_of(client, URL)}
    )

    assert stale.status_code == 412
    assert current.status_code == 204
    async with sessionmaker() as session:
        assert await repository.find_package(session, "2403") is None


async def test_concurrent_edits_of_packages_sharing_grids_never_deadlock(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # Each membership change bumps the grid's version, locking its row; the
    # edits take their grids in one order, so none waits on another in a
    # circle.
    await make_category(sessionmaker)
    for grid_id in (7, 8, 9):
        await make_grid(sessionmaker, id=grid_id)
    for package_id in (1, 2, 3, 4):
        # Rows stored in opposite orders, so deletes meet the grids so too.
        order = (9, 7) if package_id % 2 else (7, 9)
        await make_package(sessionmaker, id=package_id, grid_ids=order)
    edits = [
        client.patch(
            f"/api/v4/packages/{n % 4 + 1}/",
            headers=auth,
            json={"grids": [8, 7] if n % 2 else [7, 9, 8]},
        )
        for n in range(16)
    ]

    answers = await asyncio.gather(*edits)

    assert [answer.status_code for answer in answers] == [200] * 16
    grid_7 = (await client.get("/api/v4/grids/7/")).json()
    assert len(grid_7["packages"]) == 4


# -- search: validated by what it answers ---------------------------------------


@pytest.mark.usefixtures("catalogue")
async def test_search_carries_validators_and_answers_304_until_its_results_change(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    path = "/api/v4/search/?q=package"
    first = await client.get(path)
    etag = first.headers["etag"]
    same = await client.get(path, headers={"If-None-Match": etag})
    other_query = await client.get("/api/v4/search/?q=package&limit=1")
    async with sessionmaker() as session:
        await session.execute(
            update(Package).where(Package.id == 2404).values(repo_watchers=99)
        )
        await session.commit()
    changed = await client.get(path, headers={"If-None-Match": etag})

    assert first.status_code == 200
    assert DIGEST_ETAG.match(etag), etag
    assert first.headers["cache-control"] == CACHE_CONTROL
    assert first.headers["vary"] == "Accept"
    assert [hit["slug"] for hit in first.json()] == ["example-package", "other-package"]
    assert (same.status_code, same.content) == (304, b"")
    assert other_query.headers["etag"] != etag
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    # No single moment dates a set of results: no Last-Modified, and
    # If-Modified-Since alone never makes a 304.
    assert "last-modified" not in first.headers
    since = await client.get(
        path, headers={"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}
    )
    assert since.status_code == 200


async def test_an_empty_search_is_validated_too(client: httpx.AsyncClient) -> None:
    first = await client.get("/api/v4/search/?q=")
    again = await client.get(
        "/api/v4/search/?q=", headers={"If-None-Match": first.headers["etag"]}
    )

    assert (first.status_code, first.json()) == (200, [])
    assert (again.status_code, again.content) == (304, b"")


@pytest.mark.usefixtures("catalogue")
async def test_a_score_is_validated_by_what_it_says_and_always_revalidated(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    path = "/api/v4/packages/2403/score/"
    first = await client.get(path)
    etag = first.headers["etag"]
    # Worked out again a moment later: the same explanation, the same ETag.
    again = await client.get(path)
    same = await client.get(path, headers={"If-None-Match": etag})
    async with sessionmaker() as session:
        await session.execute(
            update(Package).where(Package.id == 2403).values(repo_watchers=5000)
        )
        await session.commit()
    changed = await client.get(path, headers={"If-None-Match": etag})

    assert first.status_code == 200
    assert DIGEST_ETAG.match(etag), etag
    assert again.headers["etag"] == etag
    assert first.headers["cache-control"] == "no-cache"
    assert "last-modified" not in first.headers
    assert (same.status_code, same.content) == (304, b"")
    assert same.headers["cache-control"] == "no-cache"
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
