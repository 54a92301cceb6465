"""Reading categories (by id only) and grids (by id or slug)."""

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.api.bodies import category_body, grid_body
from tests.api.conftest import ClientFactory, Statements
from tests.api.problems import not_found
from tests.factories import make_category, make_grid, make_package


@pytest.fixture
async def catalogue(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await make_category(sessionmaker)
    await make_category(
        sessionmaker,
        id=2,
        title="Framework",
        slug="frameworks",
        title_plural="Frameworks",
        description="Large efforts.",
        show_pypi=False,
        created=datetime(2010, 8, 14, 22, 47, 52, tzinfo=UTC),
        modified=datetime(2022, 3, 4, 21, 48, 41, 249944, tzinfo=UTC),
    )
    await make_grid(sessionmaker, id=7)
    await make_grid(
        sessionmaker,
        id=9,
        title="Push notifications",
        slug="push-notifications",
        description="Send notifications to phones.",
        is_locked=True,
        header=True,
    )
    await make_package(sessionmaker, id=2404, grid_ids=(7,))
    await make_package(sessionmaker, id=2403, grid_ids=(7, 9))
    await make_package(sessionmaker, id=12, grid_ids=(7,))


FRAMEWORK = category_body(
    2,
    title="Framework",
    slug="frameworks",
    title_plural="Frameworks",
    description="Large efforts.",
    show_pypi=False,
    created="2010-08-14T22:47:52Z",
    modified="2022-03-04T21:48:41.249944Z",
)
GRID_7 = grid_body(7, package_ids=(12, 2403, 2404))
GRID_9 = grid_body(
    9,
    package_ids=(2403,),
    title="Push notifications",
    slug="push-notifications",
    description="Send notifications to phones.",
    is_locked=True,
    header=True,
)


@pytest.mark.usefixtures("catalogue")
async def test_categories_are_listed_newest_first(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v4/categories/")

    assert response.status_code == 200
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [FRAMEWORK, category_body()],
    }
    assert list(response.json()["results"][0]) == [
        "id",
        "title",
        "slug",
        "description",
        "title_plural",
        "show_pypi",
        "created",
        "modified",
    ]


@pytest.mark.usefixtures("catalogue")
async def test_categories_are_paged(client: httpx.AsyncClient) -> None:
    first = await client.get("/api/v4/categories?limit=1")
    second = await client.get(first.json()["next"])

    assert first.json() == {
        "count": 2,
        "next": "http://testserver/api/v4/categories/?limit=1&offset=1",
        "previous": None,
        "results": [FRAMEWORK],
    }
    assert second.json() == {
        "count": 2,
        "next": None,
        "previous": "http://testserver/api/v4/categories/?limit=1",
        "results": [category_body()],
    }


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("path", ["/api/v4/categories/2/", "/api/v4/categories/02"])
async def test_a_category_is_found_by_id(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 200
    assert response.json() == FRAMEWORK


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(
    "segment",
    [
        "0",
        "3",
        "2147483648",
        "99999999999999999999999999",
        "-1",
        "\u0662",  # 2 in Arabic-Indic digits
        "\uff12",  # full-width 2
        "frameworks",  # categories have no slug lookup in v4
    ],
)
async def test_an_unknown_category_is_404(
    client: httpx.AsyncClient, segment: str
) -> None:
    response = await client.get(f"/api/v4/categories/{segment}/")

    assert response.status_code == 404
    assert response.json() == not_found(quote(f"/api/v4/categories/{segment}/"))


@pytest.mark.usefixtures("catalogue")
async def test_category_timestamps_follow_the_configured_zone(
    client_with: ClientFactory,
) -> None:
    async with client_with(time_zone="America/New_York") as client:
        response = await client.get("/api/v4/categories/2/")

    assert response.json()["created"] == "2010-08-14T18:47:52-04:00"
    assert response.json()["modified"] == "2022-03-04T16:48:41.249944-05:00"


@pytest.mark.usefixtures("catalogue")
async def test_grids_are_listed_newest_first_with_their_packages(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v4/grids/")

    assert response.status_code == 200
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [GRID_9, GRID_7],
    }
    assert list(response.json()["results"][0]) == [
        "id",
        "title",
        "slug",
        "description",
        "is_locked",
        "packages",
        "header",
        "created",
        "modified",
    ]


@pytest.mark.usefixtures("catalogue")
async def test_grids_are_paged(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v4/grids/?limit=1&offset=1&format=json")

    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": "http://testserver/api/v4/grids/?format=json&limit=1",
        "results": [
            {
                **GRID_7,
                "packages": [
                    f"http://testserver/api/v4/packages/{i}/?format=json"
                    for i in (12, 2403, 2404)
                ],
            }
        ],
    }


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("segment", ["9", "009", "push-notifications"])
async def test_a_grid_is_found_by_id_or_slug(
    client: httpx.AsyncClient, segment: str
) -> None:
    with_slash = await client.get(f"/api/v4/grids/{segment}/")
    without_slash = await client.get(f"/api/v4/grids/{segment}")

    assert with_slash.status_code == 200
    assert with_slash.json() == GRID_9
    assert without_slash.json() == GRID_9


@pytest.mark.usefixtures("catalogue")
async def test_a_grid_keeps_the_format_in_its_package_links(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v4/grids/grid-7/?format=json")

    assert response.json()["packages"] == [
        f"http://testserver/api/v4/packages/{i}/?format=json" for i in (12, 2403, 2404)
    ]


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(
    "segment",
    [
        "0",
        "8",
        "2147483648",
        "\u0669",  # 9 in Arabic-Indic digits
        "no-such-grid",
        "package-2403",  # a package's slug, not a grid's
        "frameworks",  # a category's slug
    ],
)
async def test_an_unknown_grid_is_404(client: httpx.AsyncClient, segment: str) -> None:
    response = await client.get(f"/api/v4/grids/{segment}/")

    assert response.status_code == 404
    assert response.json() == not_found(quote(f"/api/v4/grids/{segment}/"))


async def test_empty_lists(client: httpx.AsyncClient) -> None:
    empty: dict[str, Any] = {"count": 0, "next": None, "previous": None, "results": []}

    assert (await client.get("/api/v4/categories/")).json() == empty
    assert (await client.get("/api/v4/grids/")).json() == empty


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(
    ("path", "budget"),
    [
        ("/api/v4/grids/?limit=1", 3),
        ("/api/v4/grids/?limit=100", 3),
        ("/api/v4/grids/9/", 2),
        ("/api/v4/grids/push-notifications/", 2),
        ("/api/v4/categories/?limit=1", 2),
        ("/api/v4/categories/?limit=100", 2),
        ("/api/v4/categories/2/", 1),
    ],
)
async def test_statements_per_request(
    client: httpx.AsyncClient, statements: Statements, path: str, budget: int
) -> None:
    with statements.recording() as seen:
        response = await client.get(path)

    assert response.status_code == 200
    assert len(seen) == budget, seen
