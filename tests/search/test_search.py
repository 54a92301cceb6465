"""GET /api/v4/search/: shape, ranking, literal text, paging, a fresh index."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.catalog.schemas import CatalogDocument
from app.catalog.service import import_catalog
from app.fetcher import repository as fetched
from app.models import Category, Package
from app.search import repository as search_repository
from tests.factories import EPOCH, make_category, make_grid, make_package

URL = "/api/v4/search/"
BASE = "http://testserver/api/v4"


async def slugs(client: httpx.AsyncClient, q: str, **params: Any) -> list[str]:
    response = await client.get(URL, params={"q": q, **params})
    assert response.status_code == 200, response.text
    return [item["slug"] for item in response.json()]


async def weights(client: httpx.AsyncClient, q: str) -> list[tuple[str, int]]:
    response = await client.get(URL, params={"q": q})
    assert response.status_code == 200, response.text
    return [(item["slug"], item["weight"]) for item in response.json()]


@pytest.fixture
async def fields(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """The word "zebra" in a different field of each package."""
    await make_category(sessionmaker)
    await make_category(
        sessionmaker, id=2, title="Zebra Crossings", slug="zebra-crossings"
    )
    await make_package(
        sessionmaker,
        id=1,
        title="Lion",
        slug="by-participant",
        participants=["zebra-fan", "someone"],
    )
    await make_package(
        sessionmaker, id=2, title="Tiger", slug="by-category", category_id=2
    )
    await make_package(
        sessionmaker,
        id=3,
        title="Puma",
        slug="by-description",
        repo_description="Stripes for a zebra.",
    )
    await make_package(sessionmaker, id=4, title="Ocelot", slug="zebra-by-slug")
    await make_package(sessionmaker, id=5, title="Zebra Kit", slug="by-title")


@pytest.mark.usefixtures("fields")
async def test_title_beats_slug_beats_description_beats_category_beats_participants(
    client: httpx.AsyncClient,
) -> None:
    assert await weights(client, "zebra") == [
        # a whole title word (24), the name "zebrakit" starting with "zebra"
        # (counted as a title prefix, 20, plus 30 - 3 letters more)
        ("by-title", 24 + 27),
        ("zebra-by-slug", 16),
        ("by-description", 8),
        ("by-category", 4),
        ("by-participant", 2),
    ]


@pytest.mark.usefixtures("fields")
async def test_a_word_prefix_matches(client: httpx.AsyncClient) -> None:
    assert await weights(client, "zeb") == [
        ("by-title", 20 + 25),
        ("zebra-by-slug", 16),
        ("by-description", 8),
        ("by-category", 4),
        ("by-participant", 2),
    ]
    assert await slugs(client, "bra") == []


@pytest.mark.usefixtures("fields")
async def test_every_word_must_match_unless_none_matches_with_all(
    client: httpx.AsyncClient,
) -> None:
    assert await slugs(client, "zebra kit") == ["by-title"]
    assert await slugs(client, "zebra stripes") == ["by-description"]
    # No package has both: each word alone is enough then. Both weigh 24;
    # the closer text comes first (bm25 on SQLite, where "Ocelot" has no
    # description to dilute it; trigram similarity on PostgreSQL, where
    # "ocelot" shares more of the query than "puma").
    assert await slugs(client, "ocelot puma") == ["zebra-by-slug", "by-description"]


@pytest.mark.usefixtures("fields")
async def test_past_the_closeness_limit_equal_weights_go_by_id(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_repository, "CLOSENESS_LIMIT", 1)

    assert await slugs(client, "ocelot puma") == ["by-description", "zebra-by-slug"]


async def test_a_misspelt_word_finds_what_it_meant(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    await make_package(
        sessionmaker, id=1, title="django-debug-toolbar", slug="django-debug-toolbar"
    )
    await make_package(
        sessionmaker,
        id=2,
        title="django-debug-toolbar-extra",
        slug="django-debug-toolbar-extra",
    )
    await make_package(
        sessionmaker, id=3, title="django-toolbelt", slug="django-toolbelt"
    )

    assert await weights(client, "debug tolbar") == [
        # the name, typo corrected, is the query's: every word counts whole
        ("django-debug-toolbar", 2 * 24 + 40),
        # "debug" a whole title word (24), "toolbar" corrected (half of 20),
        # then the name starts with "debugtoolbar": at least 2 x 20, + 30 - 5
        ("django-debug-toolbar-extra", 40 + 25),
    ]
    assert await slugs(client, "toolbr") == [
        "django-debug-toolbar",
        "django-debug-toolbar-extra",
    ]


async def test_equal_matches_go_by_score_then_release_then_id(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    released = datetime(2026, 3, 1, tzinfo=UTC)
    await make_package(sessionmaker, id=1, title="Widget A", slug="a", score=5)
    await make_package(sessionmaker, id=2, title="Widget B", slug="b", score=50)
    await make_package(
        sessionmaker,
        id=3,
        title="Widget C",
        slug="c",
        score=5,
        pypi_released_at=released,
    )
    await make_package(sessionmaker, id=4, title="Widget D", slug="d", score=5)

    assert await weights(client, "widget") == [
        ("b", 24 + 29),
        ("c", 24 + 29),
        ("a", 24 + 29),
        ("d", 24 + 29),
    ]


async def test_a_result_has_the_django_packages_search_shape(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    await make_package(
        sessionmaker,
        id=7,
        title="django-rest-framework-social-oauth2",
        slug="django-rest-framework-social-oauth2",
        repo_description="python-social-auth and oauth2 support for django-rest-framework",
        repo_watchers=1047,
        repo_forks=189,
        participants=["user-xxx", "user-yyy"],
        last_updated=datetime(2024, 1, 12, 10, 3, 34, tzinfo=UTC),
        pypi_released_at=datetime(2024, 1, 12, 15, 28, 41, tzinfo=UTC),
    )
    await make_grid(
        sessionmaker,
        id=3,
        title="REST frameworks",
        slug="rest",
        description="Ways to build a REST API",
    )

    response = await client.get(URL, params={"q": "REST"})

    assert response.status_code == 200
    assert (
        response.json()
        == [
            {
                "description": "python-social-auth and oauth2 support for django-rest-framework",
                "title": "django-rest-framework-social-oauth2",
                "created": "2025-01-01T00:00:00Z",
                "modified": "2025-01-01T00:00:00Z",
                "weight": 24 + 10,
                "item_type": "package",
                "title_no_prefix": "rest-framework-social-oauth2",
                "slug": "django-rest-framework-social-oauth2",
                "slug_no_prefix": "rest-framework-social-oauth2",
                "clean_title": "restframeworksocialoauth2",
                "category": "App",
                "absolute_url": f"{BASE}/packages/7/",
                "repo_watchers": 1047,
                "repo_forks": 189,
                "pypi_downloads": 0,
                "usage": 0,
                "participants": "user-xxx,user-yyy",
                "last_committed": "2024-01-12T10:03:34Z",
                "last_released": "2024-01-12T15:28:41Z",
            },
            {
                "description": "Ways to build a REST API",
                "title": "REST frameworks",
                "created": "2025-01-01T00:00:00Z",
                "modified": "2025-01-01T00:00:00Z",
                "weight": 24 + 20,
                "item_type": "grid",
                "title_no_prefix": "rest frameworks",
                "slug": "rest",
                "slug_no_prefix": "rest",
                "clean_title": "restframeworks",
                "category": "",
                "absolute_url": f"{BASE}/grids/3/",
                "repo_watchers": 0,
                "repo_forks": 0,
                "pypi_downloads": 0,
                "usage": 0,
                "participants": "",
                "last_committed": None,
                "last_released": None,
            },
        ][::-1]
    )


async def test_limit_and_offset_page_through_packages_and_grids(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    for number in range(1, 6):
        await make_package(
            sessionmaker,
            id=number,
            title=f"Pager {number}",
            slug=f"pager-{number}",
            score=number,
        )
    await make_grid(sessionmaker, id=1, title="Pager grid", slug="pager-grid")

    everything = await slugs(client, "pager")
    pages = [await slugs(client, "pager", limit=2, offset=o) for o in (0, 2, 4, 6)]

    assert everything == [
        "pager-5",
        "pager-4",
        "pager-3",
        "pager-2",
        "pager-1",
        "pager-grid",
    ]
    assert pages == [everything[0:2], everything[2:4], everything[4:6], []]
    assert len(await slugs(client, "pager", limit=1000)) == 6


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        (
            {"q": "a" * 1001},
            [
                {
                    "loc": ["query", "q"],
                    "msg": "String should have at most 1000 characters",
                    "type": "string_too_long",
                }
            ],
        ),
        (
            {"q": "x", "limit": 0},
            [
                {
                    "loc": ["query", "limit"],
                    "msg": "Input should be greater than or equal to 1",
                    "type": "greater_than_equal",
                }
            ],
        ),
        (
            {"q": "x", "offset": -1},
            [
                {
                    "loc": ["query", "offset"],
                    "msg": "Input should be greater than or equal to 0",
                    "type": "greater_than_equal",
                }
            ],
        ),
        (
            {"q": "x", "offset": 1001},
            [
                {
                    "loc": ["query", "offset"],
                    "msg": "Input should be less than or equal to 1000",
                    "type": "less_than_equal",
                }
            ],
        ),
        (
            {"q": "x", "limit": "ten"},
            [
                {
                    "loc": ["query", "limit"],
                    "msg": "Input should be a valid integer, unable to parse string as an integer",
                    "type": "int_parsing",
                }
            ],
        ),
    ],
)
async def test_what_cannot_be_answered_is_a_422_that_says_why(
    client: httpx.AsyncClient, params: dict[str, Any], detail: list[dict[str, Any]]
) -> None:
    response = await client.get(URL, params=params)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    fields = ", ".join(".".join(str(part) for part in error["loc"]) for error in detail)
    assert (body["detail"], body["errors"]) == (f"Invalid input: {fields}.", detail)


ZEBRAS = [
    "by-title",
    "zebra-by-slug",
    "by-description",
    "by-category",
    "by-participant",
]


@pytest.mark.usefixtures("fields")
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("", []),
        ('"', []),
        ("'", []),
        ("()", []),
        ("& | ! : *", []),
        ("%", []),
        ("_", []),
        ("%_%", []),
        ("\\", []),
        ("\\\\", []),
        ("\x00", []),
        ("a" * 1000, []),
        ("AND", []),
        ("OR NOT NEAR", []),
        ("'; DROP TABLE packages; --", []),
        ("zebra*", ZEBRAS),
        ('"zebra"', ZEBRAS),
        ("(zebra)", ZEBRAS),
        ("zebra:", ZEBRAS),
        ("title:zebra", ["by-title"]),
        ("%zebra%", ZEBRAS),
        ("zebra\\", ZEBRAS),
        ("zebra\x00", ZEBRAS),
        ("\x00zebra\x00kit", ["by-title"]),
        ("zebra & kit", ["by-title"]),
        ("zebra | kit", ["by-title"]),
        ("!zebra", ZEBRAS),
        ("ZEBRA", ZEBRAS),
        ("zebra " * 150, ZEBRAS),
        # Unicode that the databases' parsers split or drop differently
        ("日本語", []),
        ("½", []),
        ("x²", []),
        ("ﬁlter", []),
        ("İstanbul", []),
        ("e\u0301", []),
        ("\u200b🙂", []),
        ("zebra\u200b", ZEBRAS),
    ],
)
async def test_any_text_is_a_literal_query(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    q: str,
    expected: list[str],
) -> None:
    assert await slugs(client, q) == expected

    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Package)) == 5


async def test_the_index_follows_creates_edits_and_deletes(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    admin_auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await make_category(sessionmaker)

    created = await client.post(
        "/api/v4/packages/",
        headers=auth,
        json={"title": "Narwhal", "slug": "narwhal", "category": 1},
    )
    found_new = await slugs(client, "narwhal")
    renamed = await client.patch(
        "/api/v4/packages/narwhal/", headers=auth, json={"title": "Walrus"}
    )
    found_after_edit = (await slugs(client, "narwhal"), await slugs(client, "walrus"))
    deleted = await client.delete("/api/v4/packages/narwhal/", headers=admin_auth)

    assert (created.status_code, renamed.status_code, deleted.status_code) == (
        201,
        200,
        204,
    )
    assert found_new == ["narwhal"]
    # the slug still says narwhal; the title now says walrus
    assert found_after_edit == (["narwhal"], ["narwhal"])
    assert await weights(client, "walrus") == []
    assert await slugs(client, "narwhal") == []


async def test_the_index_follows_a_refresh(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    await make_package(sessionmaker, id=1, title="Quokka", slug="quokka")

    before = await slugs(client, "marsupial")
    async with sessionmaker() as session:
        await fetched.save_success(
            session,
            1,
            {"repo_description": "A marsupial", "participants": ["wombat-dev"]},
            at=EPOCH,
        )
        await session.commit()

    assert before == []
    assert await weights(client, "marsupial") == [("quokka", 8)]
    assert await weights(client, "wombat") == [("quokka", 2)]


async def test_the_index_follows_an_import(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    def document(category_title: str, description: str) -> CatalogDocument:
        return CatalogDocument.model_validate(
            {
                "categories": [
                    {
                        "id": 1,
                        "title": category_title,
                        "slug": "apps",
                        "description": "",
                        "title_plural": "",
                        "show_pypi": True,
                    }
                ],
                "grids": [],
                "packages": [
                    {
                        "id": 9,
                        "title": "Kiwi",
                        "slug": "kiwi",
                        "category": 1,
                        "repo_description": description,
                        "grids": [],
                    }
                ],
            }
        )

    async with sessionmaker() as session:
        await import_catalog(session, document("Birds", "flightless"))
        await session.commit()
    first = (await weights(client, "birds"), await weights(client, "flightless"))
    async with sessionmaker() as session:
        await import_catalog(session, document("Fruit", "fuzzy"))
        await session.commit()

    assert first == ([("kiwi", 4)], [("kiwi", 8)])
    assert await weights(client, "birds") == []
    assert await weights(client, "flightless") == []
    assert await weights(client, "fruit") == [("kiwi", 4)]
    assert await weights(client, "fuzzy") == [("kiwi", 8)]


async def test_a_category_renamed_in_place_is_searched_by_its_new_title(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker, title="Birds")
    await make_package(sessionmaker, id=1, title="Emu", slug="emu")
    async with sessionmaker() as session:
        await session.execute(update(Category).values(title="Ratites"))
        await session.commit()

    assert await weights(client, "birds") == []
    assert await weights(client, "ratites") == [("emu", 4)]
