"""GET /api/v4/packages/{id or slug}/score/ explains every point."""

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.catalog.schemas import CatalogDocument
from app.catalog.service import import_catalog
from tests.factories import make_category, make_package

BASE = "http://testserver/api/v4"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_the_score_is_explained_component_by_component(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    now = datetime.now(UTC)
    commit = now - timedelta(days=740)  # always 24 full months: 8 quarters
    release = now - timedelta(days=1000)
    await make_category(sessionmaker)
    await make_package(
        sessionmaker,
        id=7,
        slug="scored",
        repo_watchers=1000,
        last_updated=commit,
        pypi_released_at=release,
        python3=False,
        score=-100,
    )
    for number, score in ((8, -400), (9, -100), (10, 50), (11, 900)):
        await make_package(sessionmaker, id=number, score=score)

    response = await client.get("/api/v4/packages/scored/score/")

    body = response.json()
    assert response.status_code == 200
    assert body == {
        "package": f"{BASE}/packages/7/",
        "rule_version": 2,
        "score": -100,
        "total": -100,
        "computed_at": body["computed_at"],
        "components": [
            {
                "name": "stars",
                "inputs": {"repo_watchers": 1000},
                "points": 1000,
                "why": "The repository has 1000 stars; every star is a point.",
            },
            {
                "name": "inactivity",
                "inputs": {
                    "last_commit": iso(commit),
                    "last_release": iso(release),
                    "repo_watchers": 1000,
                    "quarters": 8,
                },
                "points": -800,
                "why": f"The last activity was a commit on {commit:%Y-%m-%d}, 8 full "
                "quarters ago; each costs a tenth of the stars (100).",
            },
            {
                "name": "python3",
                "inputs": {"python3": False, "repo_watchers": 1000},
                "points": -300,
                "why": "PyPI says the project does not support Python 3: 30% of the "
                "stars, at most 1000, are taken off (300).",
            },
            {
                "name": "floor",
                "inputs": {"floor": -500, "before_floor": -100},
                "points": 0,
                "why": "The score is above the floor of -500, so nothing is added.",
            },
        ],
        "in_category": {
            "category": f"{BASE}/categories/1/",
            "packages": 5,
            "lower": 1,
            "percentile": 25.0,
        },
    }
    computed = datetime.fromisoformat(body["computed_at"])
    assert now <= computed <= datetime.now(UTC)


async def test_an_unknown_package_has_no_score(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v4/packages/nope/score/")

    assert response.status_code == 404
    assert response.json()["detail"] == "Not found."


async def test_alone_in_its_category_a_package_is_at_the_top(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    await make_package(sessionmaker, id=1)

    body = (await client.get("/api/v4/packages/1/score/")).json()

    assert body["in_category"] == {
        "category": f"{BASE}/categories/1/",
        "packages": 1,
        "lower": 0,
        "percentile": 100.0,
    }
    assert (body["score"], body["total"]) == (0, 0)


async def test_an_import_scores_what_it_loads(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    recent = datetime.now(UTC) - timedelta(days=5)
    document = CatalogDocument.model_validate(
        {
            "categories": [{"id": 1, "title": "App", "slug": "apps"}],
            "packages": [
                {
                    "id": 3,
                    "title": "Imported",
                    "slug": "imported",
                    "category": 1,
                    "repo_watchers": 321,
                    "last_updated": recent.isoformat(),
                },
                {
                    "id": 4,
                    "title": "Undated",
                    "slug": "undated",
                    "category": 1,
                    "repo_watchers": 321,
                },
            ],
        }
    )
    async with sessionmaker() as session:
        await import_catalog(session, document)
        await session.commit()

    scores = [
        (await client.get(f"/api/v4/packages/{slug}/score/")).json()["score"]
        for slug in ("imported", "undated")
    ]
    # no date at all: one quarter's tenth
    assert scores == [321, 321 - 32]
