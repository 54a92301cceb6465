"""Loading a whole catalogue document and writing one out."""

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.api.links import Links
from app.auth.tokens import create_token
from app.catalog.schemas import CatalogDocument
from app.catalog.service import (
    CatalogError,
    ImportSummary,
    export_catalog,
    import_catalog,
)
from app.cli import SAMPLE_CATALOG
from app.db.base import Base
from app.models import Category, Grid, Package, grid_packages

UTC_ZONE = ZoneInfo("UTC")
PUBLIC = Links(base="https://packages.example.org")


def sample() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SAMPLE_CATALOG.read_text(encoding="utf-8"))
    return document


async def load(
    sessionmaker: async_sessionmaker[AsyncSession], document: dict[str, Any]
) -> ImportSummary:
    async with sessionmaker() as session:
        summary = await import_catalog(
            session, CatalogDocument.model_validate(document)
        )
        await session.commit()
    return summary


async def export(
    sessionmaker: async_sessionmaker[AsyncSession],
    links: Links = PUBLIC,
    zone: ZoneInfo = UTC_ZONE,
) -> dict[str, Any]:
    async with sessionmaker() as session:
        return await export_catalog(session, links, zone)


CATALOGUE_TABLES = (
    "categories",
    "grids",
    "packages",
    "grid_packages",
    "grid_features",
    "grid_cells",
)
EMPTY = dict.fromkeys(CATALOGUE_TABLES, 0)


async def counts(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessionmaker() as session:
        return {
            table.name: (await session.scalar(select(func.count()).select_from(table)))
            or 0
            for table in Base.metadata.sorted_tables
            if table.name in CATALOGUE_TABLES
        }


async def empty_the_catalogue(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in CATALOGUE_TABLES:
                await connection.execute(table.delete())


def small(**package: Any) -> dict[str, Any]:
    """One category, one grid, one package, links on a host of their own."""
    return {
        "categories": [
            {
                "id": 5,
                "title": "Library",
                "slug": "libraries",
                "created": "2020-01-01T00:00:00Z",
                "modified": "2020-01-02T00:00:00Z",
            }
        ],
        "grids": [
            {
                "id": 40,
                "title": "Form tools",
                "slug": "form-tools",
                "packages": ["https://old.example.net/api/v4/packages/77/"],
                "created": "2020-01-01T00:00:00Z",
                "modified": "2020-01-02T00:00:00Z",
            }
        ],
        "packages": [
            {
                "id": 77,
                "title": "Example",
                "slug": "example",
                "category": "https://old.example.net/api/v4/categories/5/?format=json",
                "grids": [],
                "created": "2019-05-06T07:08:09.123456+02:00",
                "modified": "2021-01-01T12:00:00-05:00",
                **package,
            }
        ],
    }


# -- the sample catalogue ------------------------------------------------------


async def test_the_sample_catalogue_imports(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    summary = await load(sessionmaker, sample())

    assert summary == ImportSummary(
        categories=3, grids=4, packages=10, features=4, cells=7, shared_repositories=[]
    )
    assert await counts(sessionmaker) == {
        "categories": 3,
        "grids": 4,
        "packages": 10,
        "grid_packages": 5,
        "grid_features": 4,
        "grid_cells": 7,
    }


async def test_the_sample_exports_as_it_was_written(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await load(sessionmaker, sample())

    exported = await export(sessionmaker)

    # The sample gives package 2403's times as Django Packages showed them,
    # in New York; an export in UTC shows the same instants in UTC.
    expected = sample()
    expected["packages"][-1].update(
        last_updated="2026-02-15T20:19:33Z",
        last_fetched="2026-02-15T22:08:28.806552Z",
        created="2014-06-03T04:28:54.612484Z",
        modified="2026-01-28T19:04:56.613682Z",
    )
    assert exported == expected
    assert [list(p) for p in exported["packages"]] == [
        list(p) for p in expected["packages"]
    ]


async def test_the_sample_exports_in_new_york_time(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await load(sessionmaker, sample())

    exported = await export(sessionmaker, zone=ZoneInfo("America/New_York"))

    assert exported["packages"][-1] == sample()["packages"][-1]
    assert exported["categories"][0]["created"] == "2010-08-14T18:47:52-04:00"


# -- what an import keeps ---------------------------------------------------


async def test_import_keeps_ids_slugs_and_timestamps(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await load(sessionmaker, small())

    async with sessionmaker() as session:
        category = await session.get(Category, 5)
        grid = await session.get(Grid, 40)
        package = await session.get(Package, 77)
        members = (await session.execute(select(grid_packages))).all()

    assert category is not None and grid is not None and package is not None
    assert (category.slug, category.created, category.modified) == (
        "libraries",
        datetime(2020, 1, 1, tzinfo=UTC),
        datetime(2020, 1, 2, tzinfo=UTC),
    )
    assert (grid.slug, grid.created, grid.modified) == (
        "form-tools",
        datetime(2020, 1, 1, tzinfo=UTC),
        datetime(2020, 1, 2, tzinfo=UTC),
    )
    assert (package.slug, package.category_id, package.created, package.modified) == (
        "example",
        5,
        datetime(2019, 5, 6, 5, 8, 9, 123456, tzinfo=UTC),
        datetime(2021, 1, 1, 17, 0, tzinfo=UTC),
    )
    assert [tuple(row) for row in members] == [(40, 77)]


@pytest.mark.parametrize(
    "reference",
    [
        5,
        "5",
        "https://djangopackages.org/api/v4/categories/5/",
        "https://djangopackages.org/api/v4/categories/5/?format=api",
        "http://localhost:8000/api/v4/categories/5",
        "/api/v4/categories/5/",
    ],
)
async def test_a_hyperlink_resolves_by_its_trailing_id_whatever_its_host(
    sessionmaker: async_sessionmaker[AsyncSession], reference: str | int
) -> None:
    document = small(category=reference, grids=[f"https://a.example/grids/{40}/"])
    document["grids"][0]["packages"] = []

    await load(sessionmaker, document)

    async with sessionmaker() as session:
        package = await session.get(Package, 77)
        members = (await session.execute(select(grid_packages))).all()
    assert package is not None and package.category_id == 5
    assert [tuple(row) for row in members] == [(40, 77)]


async def test_timestamps_without_an_offset_are_utc_and_missing_ones_are_now(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    document = small(created="2019-05-06T07:08:09", last_fetched="2024-02-03T04:05:06")
    del document["packages"][0]["modified"]
    before = datetime.now(UTC)

    await load(sessionmaker, document)

    async with sessionmaker() as session:
        package = await session.get(Package, 77)
    assert package is not None
    assert package.created == datetime(2019, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert package.last_fetched == datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert package.last_updated is None
    assert before <= package.modified <= datetime.now(UTC)


async def test_importing_the_same_document_twice_changes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await load(sessionmaker, sample())
    first = await export(sessionmaker)
    first_counts = await counts(sessionmaker)

    summary = await load(sessionmaker, sample())

    assert summary == ImportSummary(
        categories=3, grids=4, packages=10, features=4, cells=7
    )
    assert await export(sessionmaker) == first
    assert await counts(sessionmaker) == first_counts


async def test_an_import_updates_records_by_id(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await load(sessionmaker, small())

    document = small(title="Renamed", repo_watchers=9, grids=[40])
    document["grids"][0]["packages"] = []
    await load(sessionmaker, document)

    exported = await export(sessionmaker)
    assert [
        (p["id"], p["title"], p["repo_watchers"]) for p in exported["packages"]
    ] == [(77, "Renamed", 9)]
    assert exported["grids"][0]["packages"] == [
        "https://packages.example.org/api/v4/packages/77/"
    ]
    assert await counts(sessionmaker) == {
        **EMPTY,
        "categories": 1,
        "grids": 1,
        "packages": 1,
        "grid_packages": 1,
    }


async def test_export_then_import_into_an_empty_database_is_a_fixed_point(
    sessionmaker: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    await load(sessionmaker, sample())
    first = await export(sessionmaker, Links(base="http://localhost:8000"))

    await empty_the_catalogue(engine)
    assert await counts(sessionmaker) == EMPTY
    await load(sessionmaker, first)
    second = await export(sessionmaker, Links(base="http://localhost:8000"))

    assert second == first
    assert json.dumps(second) == json.dumps(first)


async def test_new_packages_after_an_import_take_the_next_free_id(
    sessionmaker: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
) -> None:
    await load(sessionmaker, sample())
    async with sessionmaker() as session:
        token = await create_token(session, "importer")
        await session.commit()

    responses = [
        await client.post(
            "/api/v4/packages/",
            headers={"Authorization": f"Bearer {token}"},
            json={"title": title, "slug": title, "category": 1},
        )
        for title in ("first-new", "second-new")
    ]

    assert [r.status_code for r in responses] == [201, 201]
    assert [r.json()["id"] for r in responses] == [2404, 2405]
    assert [r.headers["location"] for r in responses] == [
        "http://testserver/api/v4/packages/2404/",
        "http://testserver/api/v4/packages/2405/",
    ]


# -- documents that do not hold together --------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["packages"][0].update(category=6),
            "package 'example' names category 6, which is not in the catalogue",
        ),
        (
            lambda d: d["packages"][0].update(
                category="https://old.example.net/api/v4/categories/"
            ),
            "'https://old.example.net/api/v4/categories/' is neither an id nor a hyperlink to one of the categories",
        ),
        (
            lambda d: d["packages"][0].update(grids=[41]),
            "grid 41 is referred to but not in the catalogue",
        ),
        (
            lambda d: d["grids"][0].update(packages=[77, 78]),
            "grid 40 lists package 78, which is not in the catalogue",
        ),
    ],
)
async def test_a_document_that_refers_to_something_missing_writes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], change: Any, message: str
) -> None:
    document = small()
    change(document)

    async with sessionmaker() as session:
        with pytest.raises(CatalogError) as raised:
            await import_catalog(session, CatalogDocument.model_validate(document))
        await session.rollback()

    assert str(raised.value) == message
    assert await counts(sessionmaker) == EMPTY


async def test_a_missing_category_leaves_an_existing_catalogue_as_it_was(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await load(sessionmaker, sample())
    before = await export(sessionmaker)
    document = small(category=6)

    with pytest.raises(CatalogError):
        await load(sessionmaker, document)

    assert await export(sessionmaker) == before


async def refused_without_a_write(
    sessionmaker: async_sessionmaker[AsyncSession], change: Any
) -> str:
    """Why importing the small document, so changed, over the sample is
    refused; the database is checked to hold what it held before."""
    await load(sessionmaker, sample())
    before = await export(sessionmaker)
    document = small()
    change(document)

    with pytest.raises(CatalogError) as raised:
        await load(sessionmaker, document)

    assert await export(sessionmaker) == before
    return str(raised.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["categories"][0].update(slug="apps"),
            "categories: the document gives a record a slug or repository that another id already holds",
        ),
        (
            lambda d: d["grids"][0].update(slug="forms"),
            "grids: the document gives a record a slug or repository that another id already holds",
        ),
        (
            lambda d: d["packages"][0].update(slug="django"),
            "packages: the document gives a record a slug or repository that another id already holds",
        ),
    ],
)
async def test_a_slug_another_id_holds_is_a_clear_error_and_writes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], change: Any, message: str
) -> None:
    assert await refused_without_a_write(sessionmaker, change) == message


def twice(name: str, **changes: Any) -> Any:
    """A change adding a second record to the list `name`: the first, changed so."""

    def change(document: dict[str, Any]) -> None:
        document[name].append({**document[name][0], **changes})

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            twice("categories", slug="other"),
            "categories.1: id 5 is also the id of categories.0",
        ),
        (
            twice("categories", id=6),
            "categories.1: slug 'libraries' is also the slug of categories.0",
        ),
        (twice("grids", slug="other"), "grids.1: id 40 is also the id of grids.0"),
        (
            twice("grids", id=41),
            "grids.1: slug 'form-tools' is also the slug of grids.0",
        ),
        (
            twice("packages", slug="other"),
            "packages.1: id 77 is also the id of packages.0",
        ),
        (
            twice("packages", id=78),
            "packages.1: slug 'example' is also the slug of packages.0",
        ),
        (twice("packages"), "packages.1: id 77 is also the id of packages.0"),
    ],
)
async def test_one_id_or_slug_given_to_two_records_is_refused_and_writes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], change: Any, message: str
) -> None:
    assert await refused_without_a_write(sessionmaker, change) == message


@pytest.mark.parametrize(
    "repo_url",
    [
        "https://github.com/example-org",
        "https://evil.com#@github.com/example-org/example-repo",
        "not a url",
    ],
)
async def test_a_repo_url_the_api_refuses_is_kept_as_it_is_and_reported(
    sessionmaker: async_sessionmaker[AsyncSession],
    client: httpx.AsyncClient,
    repo_url: str,
) -> None:
    # Django Packages holds such URLs (an organisation's page); an export
    # must load whole, and an edit would still refuse them.
    summary = await load(sessionmaker, small(repo_url=repo_url))

    assert summary.refused_repo_urls == ["example"]
    served = (await client.get("/api/v4/packages/example/")).json()
    assert served["repo_url"] == repo_url


async def test_a_repository_spelled_another_way_is_imported_once_and_reported(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    document = small(repo_url="https://github.com/Foo/Bar")
    for number, spelling in enumerate(
        [
            "https://github.com/foo/ba%72",
            "https://github.com./foo/bar",
            "https://\uff47ithub.com/foo/bar",
            "https://github.com/foo/bar.GIT",
        ],
        start=78,
    ):
        document["packages"].append(
            {
                **document["packages"][0],
                "id": number,
                "slug": f"spelling-{number}",
                "repo_url": spelling,
            }
        )

    summary = await load(sessionmaker, document)

    assert summary.shared_repositories == [
        "spelling-78",
        "spelling-79",
        "spelling-80",
        "spelling-81",
    ]


async def test_a_repository_claimed_twice_is_imported_once_and_reported(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    document = small(repo_url="https://github.com/Example-Org/Example-Repo/")
    document["packages"].append(
        {
            **document["packages"][0],
            "id": 78,
            "slug": "example-fork",
            "repo_url": "git@github.com:example-org/example-repo.git",
        }
    )

    summary = await load(sessionmaker, document)
    again = await load(sessionmaker, document)

    assert summary.shared_repositories == again.shared_repositories == ["example-fork"]
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(Package.id, Package.repo_url, Package.repo_key).order_by(
                    Package.id
                )
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        (
            77,
            "https://github.com/Example-Org/Example-Repo/",
            "https://github.com/example-org/example-repo",
        ),
        (78, "git@github.com:example-org/example-repo.git", None),
    ]
