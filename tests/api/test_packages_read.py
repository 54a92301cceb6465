"""Reading packages: the v4 resource, lookups by id or slug, paging, SQL budget."""

from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Package, grid_packages
from tests.api.bodies import PACKAGE_KEYS, package_body
from tests.api.conftest import ClientFactory, Statements
from tests.api.problems import invalid, not_found
from tests.factories import EPOCH, make_category, make_grid, make_package


async def make_packages(
    sessionmaker: async_sessionmaker[AsyncSession], count: int
) -> None:
    """Packages 1..count in category 1, in one statement."""
    rows = [
        {
            "id": package_id,
            "title": f"Package {package_id}",
            "slug": f"package-{package_id}",
            "category_id": 1,
            "created": EPOCH,
            "modified": EPOCH,
        }
        for package_id in range(1, count + 1)
    ]
    async with sessionmaker() as session:
        await session.execute(insert(Package), rows)
        await session.commit()


@pytest.fixture
async def stored(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Package 2403 with every field set, in grids 7 and 9; package 2404 bare."""
    await make_category(sessionmaker)
    await make_category(sessionmaker, id=4, title="Other", slug="other")
    await make_grid(sessionmaker, id=7)
    await make_grid(sessionmaker, id=9)
    await make_package(
        sessionmaker,
        id=2403,
        title="Example Package",
        slug="example-package",
        category_id=4,
        grid_ids=(9, 7),
        repo_url="https://github.com/Example-Org/Example-Repo",
        pypi_url="https://pypi.org/project/example-package/",
        documentation_url="https://docs.example.org/",
        repo_watchers=1120,
        repo_forks=31,
        repo_description="An example.",
        pypi_version="2.1.0",
        commits_over_52=[0] * 51 + [4],
        participants=["alice", "bob"],
        last_updated=datetime(2025, 6, 30, 23, 59, 58, tzinfo=UTC),
        last_fetched=datetime(2025, 7, 1, 8, 30, 0, 250000, tzinfo=UTC),
        created=datetime(2014, 6, 3, 4, 28, 54, 612484, tzinfo=UTC),
    )
    await make_package(sessionmaker, id=2404, slug="other-package", grid_ids=(7,))


EXAMPLE = package_body(
    2403,
    category_id=4,
    grid_ids=(7, 9),
    title="Example Package",
    slug="example-package",
    repo_url="https://github.com/Example-Org/Example-Repo",
    pypi_url="https://pypi.org/project/example-package/",
    documentation_url="https://docs.example.org/",
    repo_watchers=1120,
    repo_forks=31,
    repo_description="An example.",
    pypi_version="2.1.0",
    commits_over_52=[0] * 51 + [4],
    participants=["alice", "bob"],
    last_updated="2025-06-30T23:59:58Z",
    last_fetched="2025-07-01T08:30:00.250000Z",
    created="2014-06-03T04:28:54.612484Z",
)


@pytest.mark.usefixtures("stored")
async def test_a_package_is_served_with_the_reference_keys_in_order(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v4/packages/2403/")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert list(response.json()) == PACKAGE_KEYS
    assert response.json() == EXAMPLE


@pytest.mark.usefixtures("stored")
@pytest.mark.parametrize("segment", ["2403", "example-package", "0002403"])
async def test_a_package_is_found_by_id_or_by_slug(
    client: httpx.AsyncClient, segment: str
) -> None:
    response = await client.get(f"/api/v4/packages/{segment}/")

    assert response.status_code == 200
    assert response.json() == EXAMPLE


@pytest.mark.usefixtures("stored")
async def test_another_packages_slug_finds_that_package(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v4/packages/other-package/")

    assert response.json() == package_body(2404, slug="other-package", grid_ids=(7,))


@pytest.mark.usefixtures("stored")
@pytest.mark.parametrize(
    "segment",
    [
        "0",
        "000",
        "2405",
        "2147483647",
        "2147483648",
        "99999999999999999999999999",
        "-2403",
        "\u0662\u0664\u0660\u0663",  # 2403 in Arabic-Indic digits
        "\uff12\uff14\uff10\uff13",  # 2403 in full-width digits
        "\u00b2",  # superscript two
        "no-such-package",
        "grid-7",  # a grid's slug, not a package's
        "apps",  # a category's slug
    ],
)
async def test_an_unknown_package_is_404(
    client: httpx.AsyncClient, segment: str
) -> None:
    response = await client.get(f"/api/v4/packages/{segment}/")

    assert response.status_code == 404
    assert response.json() == not_found(quote(f"/api/v4/packages/{segment}/"))


@pytest.mark.usefixtures("stored")
async def test_links_keep_the_requested_format(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v4/packages/2403/?format=json")

    assert response.json()["category"] == (
        "http://testserver/api/v4/categories/4/?format=json"
    )
    assert response.json()["grids"] == [
        "http://testserver/api/v4/grids/7/?format=json",
        "http://testserver/api/v4/grids/9/?format=json",
    ]


@pytest.mark.usefixtures("stored")
async def test_links_on_the_browsable_page_keep_format_api(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v4/packages/2403/?format=api")

    assert response.headers["content-type"] == "text/html; charset=utf-8"
    for url in (
        "http://testserver/api/v4/categories/4/?format=api",
        "http://testserver/api/v4/grids/7/?format=api",
        "http://testserver/api/v4/grids/9/?format=api",
    ):
        assert f'"<a href="{url}" rel="nofollow">{url}</a>"' in response.text


async def test_an_unknown_format_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v4/packages/?format=xml")

    assert response.status_code == 422
    assert response.json() == invalid(
        "/api/v4/packages/",
        "Invalid input: query.format.",
        [
            {
                "loc": ["query", "format"],
                "msg": "Input should be 'json' or 'api'",
                "type": "enum",
            }
        ],
    )


@pytest.mark.usefixtures("stored")
async def test_timestamps_are_shown_in_the_configured_zone(
    client_with: ClientFactory,
) -> None:
    async with client_with(time_zone="America/New_York") as client:
        response = await client.get("/api/v4/packages/2403/")

    body = response.json()
    # Summer time is UTC-4, winter time UTC-5; microseconds stay as stored.
    assert body["last_updated"] == "2025-06-30T19:59:58-04:00"
    assert body["last_fetched"] == "2025-07-01T04:30:00.250000-04:00"
    assert body["created"] == "2014-06-03T00:28:54.612484-04:00"
    assert body["modified"] == "2024-12-31T19:00:00-05:00"


@pytest.mark.usefixtures("stored")
async def test_the_list_is_newest_id_first(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v4/packages/")

    assert response.status_code == 200
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [
            package_body(2404, slug="other-package", grid_ids=(7,)),
            EXAMPLE,
        ],
    }


async def test_an_empty_list(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v4/packages")

    assert response.json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


async def test_the_default_page_holds_20(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    await make_packages(sessionmaker, 45)

    first = await client.get("/api/v4/packages/")
    second = await client.get(first.json()["next"])
    third = await client.get(second.json()["next"])

    assert first.json()["count"] == 45
    assert [p["id"] for p in first.json()["results"]] == list(range(45, 25, -1))
    assert (
        first.json()["next"] == "http://testserver/api/v4/packages/?limit=20&offset=20"
    )
    assert first.json()["previous"] is None
    assert [p["id"] for p in second.json()["results"]] == list(range(25, 5, -1))
    assert (
        second.json()["next"] == "http://testserver/api/v4/packages/?limit=20&offset=40"
    )
    assert second.json()["previous"] == "http://testserver/api/v4/packages/?limit=20"
    assert [p["id"] for p in third.json()["results"]] == [5, 4, 3, 2, 1]
    assert third.json()["next"] is None
    assert third.json()["previous"] == (
        "http://testserver/api/v4/packages/?limit=20&offset=20"
    )


async def test_a_limit_above_100_is_capped(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    await make_packages(sessionmaker, 101)

    response = await client.get("/api/v4/packages/?limit=1000")

    assert response.status_code == 200
    assert response.json()["count"] == 101
    assert [p["id"] for p in response.json()["results"]] == list(range(101, 1, -1))
    assert response.json()["next"] == (
        "http://testserver/api/v4/packages/?limit=100&offset=100"
    )
    assert response.json()["previous"] is None


@pytest.mark.parametrize(
    ("query", "previous"),
    [
        ("limit=2&offset=1", "http://testserver/api/v4/packages/?limit=2"),
        ("limit=2&offset=2", "http://testserver/api/v4/packages/?limit=2"),
        ("limit=2&offset=3", "http://testserver/api/v4/packages/?limit=2&offset=1"),
        (
            "format=json&limit=2&offset=4",
            "http://testserver/api/v4/packages/?format=json&limit=2&offset=2",
        ),
    ],
)
async def test_previous_links(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    query: str,
    previous: str,
) -> None:
    await make_category(sessionmaker)
    await make_packages(sessionmaker, 6)

    response = await client.get(f"/api/v4/packages/?{query}")

    assert response.json()["previous"] == previous


async def test_next_link_keeps_the_format(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    await make_packages(sessionmaker, 3)

    response = await client.get("/api/v4/packages/?format=json&limit=1")

    assert response.json()["next"] == (
        "http://testserver/api/v4/packages/?format=json&limit=1&offset=1"
    )
    assert response.json()["results"][0]["category"] == (
        "http://testserver/api/v4/categories/1/?format=json"
    )


async def test_an_offset_past_the_end_is_an_empty_page(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    await make_packages(sessionmaker, 3)

    response = await client.get("/api/v4/packages/?offset=2147483647")

    assert response.json() == {
        "count": 3,
        "next": None,
        "previous": "http://testserver/api/v4/packages/?limit=20&offset=2147483627",
        "results": [],
    }


GE_1 = ("greater_than_equal", "Input should be greater than or equal to 1")
GE_0 = ("greater_than_equal", "Input should be greater than or equal to 0")
NOT_INT = (
    "int_parsing",
    "Input should be a valid integer, unable to parse string as an integer",
)
TOO_BIG = ("less_than_equal", "Input should be less than or equal to 2147483647")


@pytest.mark.parametrize(
    ("query", "field", "error"),
    [
        ("limit=-1", "limit", GE_1),
        ("limit=0", "limit", GE_1),
        ("limit=abc", "limit", NOT_INT),
        ("limit=1.5", "limit", NOT_INT),
        ("limit=", "limit", NOT_INT),
        ("offset=-1", "offset", GE_0),
        ("offset=ten", "offset", NOT_INT),
        ("offset=2147483648", "offset", TOO_BIG),
        ("offset=99999999999999999999999999", "offset", TOO_BIG),
    ],
)
async def test_a_bad_limit_or_offset_is_422_naming_it(
    client: httpx.AsyncClient, query: str, field: str, error: tuple[str, str]
) -> None:
    answers = [
        await client.get(f"/api/v4/{resource}/?{query}")
        for resource in ("packages", "categories", "grids")
    ]

    assert [(r.status_code, r.json()) for r in answers] == [
        (
            422,
            invalid(
                f"/api/v4/{resource}/",
                f"Invalid input: query.{field}.",
                [{"loc": ["query", field], "msg": error[1], "type": error[0]}],
            ),
        )
        for resource in ("packages", "categories", "grids")
    ]


@pytest.mark.parametrize(("limit", "offset"), [(1, 0), (20, 0), (100, 0), (1, 99)])
async def test_a_list_page_is_three_statements_whatever_its_size(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    statements: Statements,
    limit: int,
    offset: int,
) -> None:
    await make_category(sessionmaker)
    await make_grid(sessionmaker, id=7)
    await make_packages(sessionmaker, 100)
    async with sessionmaker() as session:
        await session.execute(
            insert(grid_packages),
            [{"grid_id": 7, "package_id": i} for i in range(1, 101)],
        )
        await session.commit()

    with statements.recording() as seen:
        response = await client.get(f"/api/v4/packages/?limit={limit}&offset={offset}")

    assert len(response.json()["results"]) == limit
    # Newest first: the last on the page is the 100 - offset - limit + 1th.
    assert response.json()["results"][-1]["id"] == 100 - offset - limit + 1
    assert response.json()["results"][-1]["grids"] == [
        "http://testserver/api/v4/grids/7/"
    ]
    assert len(seen) == 3, seen


@pytest.mark.usefixtures("stored")
async def test_a_package_is_two_statements(
    client: httpx.AsyncClient, statements: Statements
) -> None:
    with statements.recording() as seen:
        by_id = await client.get("/api/v4/packages/2403/")
    with statements.recording() as seen_by_slug:
        by_slug = await client.get("/api/v4/packages/example-package/")

    assert by_id.json() == by_slug.json() == EXAMPLE
    assert len(seen) == 2, seen
    assert len(seen_by_slug) == 2, seen_by_slug
