"""Filters and ordering of GET /api/v4/packages/, and paging that never repeats or skips."""

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import EPOCH, make_category, make_grid, make_package

URL = "/api/v4/packages/"
KEYS = [
    "title",
    "repo_watchers",
    "repo_forks",
    "last_updated",
    "last_released",
    "score",
    "created",
    "modified",
    "id",
]
COUNT = 25


def _values(number: int) -> dict[str, Any]:
    """Package `number`'s sortable values: many ties, some missing."""
    day = timedelta(days=1)
    return {
        "title": ["alpha", "Beta", "gamma"][number % 3],
        "repo_watchers": number % 4,
        "repo_forks": number % 3,
        "last_updated": None if number % 5 == 0 else EPOCH + day * (number % 4),
        "pypi_released_at": None if number % 3 == 0 else EPOCH + day * (number % 2),
        "score": number % 5 - 2,
        "created": EPOCH + day * (number % 6),
        "modified": EPOCH + day * (number % 2),
    }


@pytest.fixture
async def many(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await make_category(sessionmaker)
    for number in range(1, COUNT + 1):
        await make_package(
            sessionmaker, id=number, slug=f"p{number}", **_values(number)
        )


def expected_order(key: str) -> list[int]:
    """Ids in `key` order as the API promises: missing values last, then id."""
    name = key.removeprefix("-")
    descending = key.startswith("-")
    column = {"last_released": "pypi_released_at", "id": None}.get(name, name)

    def value(number: int) -> Any:
        if column is None:
            return number
        found = _values(number)[column]
        return found.lower() if isinstance(found, str) else found

    ids = list(range(1, COUNT + 1))
    present = [i for i in ids if value(i) is not None]
    missing = [i for i in ids if value(i) is None]
    present.sort(key=lambda i: (value(i), i), reverse=descending)
    missing.sort(reverse=descending)
    return present + missing


async def page_through(client: httpx.AsyncClient, **params: Any) -> list[int]:
    """Every id the list gives, following `next` links seven at a time."""
    seen: list[int] = []
    url: str | None = URL
    query: dict[str, Any] | None = {"limit": 7, **params}
    while url is not None:
        response = await client.get(url, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        seen.extend(item["id"] for item in body["results"])
        url, query = body["next"], None
    return seen


@pytest.mark.usefixtures("many")
@pytest.mark.parametrize("key", [*KEYS, *(f"-{key}" for key in KEYS)])
async def test_each_ordering_pages_without_repeating_or_skipping(
    client: httpx.AsyncClient, key: str
) -> None:
    assert await page_through(client, ordering=key) == expected_order(key)


@pytest.mark.usefixtures("many")
async def test_several_keys_order_in_turn(client: httpx.AsyncClient) -> None:
    seen = await page_through(client, ordering="-repo_watchers,title")

    def key(number: int) -> tuple[int, str, int]:
        values = _values(number)
        return (-values["repo_watchers"], values["title"].lower(), -number)

    # ties on both keys go by id, descending like the first key
    assert seen == sorted(range(1, COUNT + 1), key=key)


@pytest.mark.usefixtures("many")
async def test_the_default_order_is_newest_id_first(client: httpx.AsyncClient) -> None:
    assert await page_through(client) == list(range(COUNT, 0, -1))


@pytest.fixture
async def hosted(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await make_category(sessionmaker)
    await make_category(sessionmaker, id=2, title="Framework", slug="frameworks")
    await make_grid(sessionmaker, id=7, slug="forms")
    await make_grid(sessionmaker, id=9, slug="admin")
    await make_package(
        sessionmaker, id=1, repo_url="https://github.com/a/one", grid_ids=(7,)
    )
    await make_package(
        sessionmaker,
        id=2,
        repo_url="git@github.com:a/two.git",
        repo_archived=True,
        category_id=2,
        grid_ids=(7, 9),
    )
    await make_package(
        sessionmaker, id=3, repo_url="https://gitlab.com/g/sub/three", category_id=2
    )
    await make_package(
        sessionmaker,
        id=4,
        repo_url="https://git.example.org/x/four",
        repo_archived=True,
    )
    await make_package(sessionmaker, id=5)


async def ids(client: httpx.AsyncClient, **params: Any) -> tuple[int, list[int]]:
    response = await client.get(URL, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["count"], [item["id"] for item in body["results"]]


@pytest.mark.usefixtures("hosted")
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, (5, [5, 4, 3, 2, 1])),
        ({"category": "1"}, (3, [5, 4, 1])),
        ({"category": "frameworks"}, (2, [3, 2])),
        ({"grid": "7"}, (2, [2, 1])),
        ({"grid": "admin"}, (1, [2])),
        ({"repo_host": "github.com"}, (2, [2, 1])),
        ({"repo_host": "GitLab.com"}, (1, [3])),
        ({"repo_host": "bitbucket.org"}, (0, [])),
        ({"repo_host": "other"}, (1, [4])),
        ({"repo_host": "none"}, (1, [5])),
        ({"archived": "true"}, (2, [4, 2])),
        ({"archived": "false"}, (3, [5, 3, 1])),
        ({"category": "frameworks", "archived": "false"}, (1, [3])),
        ({"grid": "forms", "repo_host": "github.com", "ordering": "id"}, (2, [1, 2])),
        ({"grid": "forms", "category": "apps"}, (1, [1])),
    ],
)
async def test_filters_narrow_the_list_and_its_count(
    client: httpx.AsyncClient, params: dict[str, str], expected: tuple[int, list[int]]
) -> None:
    assert await ids(client, **params) == expected


@pytest.mark.usefixtures("hosted")
async def test_paging_links_keep_the_filters(client: httpx.AsyncClient) -> None:
    first = (await client.get(URL, params={"archived": "false", "limit": 2})).json()
    second = (await client.get(first["next"])).json()

    assert first["count"] == second["count"] == 3
    assert (
        first["next"]
        == "http://testserver/api/v4/packages/?archived=false&limit=2&offset=2"
    )
    assert [item["id"] for item in first["results"] + second["results"]] == [5, 3, 1]
    assert (
        second["previous"]
        == "http://testserver/api/v4/packages/?archived=false&limit=2"
    )


@pytest.mark.usefixtures("hosted")
@pytest.mark.parametrize(
    ("params", "detail"),
    [
        (
            {"category": "nope"},
            [
                {
                    "loc": ["query", "category"],
                    "msg": "no category has id or slug 'nope'; the categories are: apps (1), frameworks (2)",
                    "type": "reference",
                }
            ],
        ),
        (
            {"category": "99"},
            [
                {
                    "loc": ["query", "category"],
                    "msg": "no category has id or slug '99'; the categories are: apps (1), frameworks (2)",
                    "type": "reference",
                }
            ],
        ),
        (
            {"grid": "nope\x00"},
            [
                {
                    "loc": ["query", "grid"],
                    "msg": "no grid has id or slug 'nope\\x00'; the grids are: forms (7), admin (9)",
                    "type": "reference",
                }
            ],
        ),
        (
            {"repo_host": "sourceforge.net"},
            [
                {
                    "loc": ["query", "repo_host"],
                    "msg": "'sourceforge.net' is not a repository host; use bitbucket.org, codeberg.org, github.com, gitlab.com, other, none",
                    "type": "enum",
                }
            ],
        ),
        (
            {"ordering": "stars"},
            [
                {
                    "loc": ["query", "ordering"],
                    "msg": "'stars' is not an ordering key; use title, repo_watchers, repo_forks, last_updated, last_released, score, created, modified, id, each optionally with a leading '-'",
                    "type": "ordering",
                }
            ],
        ),
        (
            {"ordering": "title,-title"},
            [
                {
                    "loc": ["query", "ordering"],
                    "msg": "'title' is given twice",
                    "type": "ordering",
                }
            ],
        ),
        (
            {"ordering": ""},
            [
                {
                    "loc": ["query", "ordering"],
                    "msg": "'' is not an ordering key; use title, repo_watchers, repo_forks, last_updated, last_released, score, created, modified, id, each optionally with a leading '-'",
                    "type": "ordering",
                }
            ],
        ),
        (
            {"archived": "maybe"},
            [
                {
                    "loc": ["query", "archived"],
                    "msg": "Input should be a valid boolean, unable to interpret input",
                    "type": "bool_parsing",
                }
            ],
        ),
    ],
)
async def test_an_unknown_filter_value_or_key_is_a_422_listing_what_is_allowed(
    client: httpx.AsyncClient, params: dict[str, str], detail: list[dict[str, Any]]
) -> None:
    response = await client.get(URL, params=params)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    fields = ", ".join(".".join(str(part) for part in error["loc"]) for error in detail)
    assert (body["detail"], body["errors"]) == (f"Invalid input: {fields}.", detail)
