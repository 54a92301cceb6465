"""Grid features and cells in catalogue documents: import, export, round trip."""

import json
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth.tokens import create_token
from app.catalog.schemas import CatalogDocument
from app.catalog.service import CatalogError, ImportSummary, import_catalog
from app.models import GridCell
from tests.catalog.test_import_export import (
    EMPTY,
    counts,
    empty_the_catalogue,
    export,
    load,
    sample,
    small,
)

OLD = "https://old.example.net/api/v4"
PUBLIC = "https://packages.example.org/api/v4"


def with_features(**feature: Any) -> dict[str, Any]:
    """`small()`'s grid 40 and package 77, plus package 78 and two features."""
    document = small(grids=[f"{OLD}/grids/40/"])
    document["packages"].append(
        {**document["packages"][0], "id": 78, "slug": "other", "grids": [40]}
    )
    document["features"] = [
        {
            "id": 9,
            "grid": f"{OLD}/grids/40/",
            "title": "Python 3",
            "description": "Which Python 3 versions it supports.",
            "order": 1,
            "created": "2020-02-01T00:00:00Z",
            "modified": "2020-02-02T00:00:00+01:00",
            "cells": [
                {"package": f"{OLD}/packages/78/", "text": "3.9+"},
                {"package": 77, "text": "yes"},
            ],
            **feature,
        },
        {
            "id": 3,
            "grid": 40,
            "title": "Docs",
            "created": "2020-02-01T00:00:00Z",
            "modified": "2020-02-01T00:00:00Z",
        },
    ]
    return document


async def cells(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(
                GridCell.grid_id,
                GridCell.feature_id,
                GridCell.package_id,
                GridCell.text,
            ).order_by(GridCell.feature_id, GridCell.package_id)
        )
        return [tuple(row) for row in rows]


async def test_features_and_cells_are_imported_and_exported_in_the_documents_shape(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    summary = await load(sessionmaker, with_features())

    exported = await export(sessionmaker)

    assert summary == ImportSummary(
        categories=1, grids=1, packages=2, features=2, cells=2
    )
    assert exported["features"] == [
        {
            "id": 3,
            "grid": f"{PUBLIC}/grids/40/",
            "title": "Docs",
            "description": "",
            "order": 0,
            "created": "2020-02-01T00:00:00Z",
            "modified": "2020-02-01T00:00:00Z",
            "cells": [],
        },
        {
            "id": 9,
            "grid": f"{PUBLIC}/grids/40/",
            "title": "Python 3",
            "description": "Which Python 3 versions it supports.",
            "order": 1,
            "created": "2020-02-01T00:00:00Z",
            "modified": "2020-02-01T23:00:00Z",
            "cells": [
                {"package": f"{PUBLIC}/packages/77/", "text": "yes"},
                {"package": f"{PUBLIC}/packages/78/", "text": "3.9+"},
            ],
        },
    ]
    assert list(exported) == ["categories", "grids", "packages", "features"]


async def test_the_sample_matrix_round_trips_through_an_empty_database(
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    client: httpx.AsyncClient,
) -> None:
    await load(sessionmaker, sample())
    matrix_before = (await client.get("/api/v4/grids/forms/matrix/")).json()
    first = await export(sessionmaker)

    await empty_the_catalogue(engine)
    assert await counts(sessionmaker) == EMPTY
    await load(sessionmaker, first)
    second = await export(sessionmaker)

    assert first["features"] == sample()["features"]
    assert json.dumps(second) == json.dumps(first)
    assert (await client.get("/api/v4/grids/forms/matrix/")).json() == matrix_before
    assert [row["title"] for row in matrix_before["features"]] == [
        "License",
        "Python 3",
        "Django versions",
        "Summary",
    ]
    assert len(matrix_before["cells"]) == 7


async def test_new_features_after_an_import_take_the_next_free_id(
    sessionmaker: async_sessionmaker[AsyncSession], client: httpx.AsyncClient
) -> None:
    await load(sessionmaker, sample())
    async with sessionmaker() as session:
        token = await create_token(session, "importer")
        await session.commit()

    response = await client.post(
        "/api/v4/grids/forms/features/",
        headers={"Authorization": f"Bearer {token}"},
        json={"title": "Templates"},
    )

    assert response.status_code == 201
    assert (response.json()["id"], response.json()["order"]) == (5, 4)


async def test_features_at_the_highest_order_export_and_import_again(
    sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    client: httpx.AsyncClient,
) -> None:
    await load(sessionmaker, with_features(order=1_000_000))
    async with sessionmaker() as session:
        token = await create_token(session, "editor")
        await session.commit()
    added = await client.post(
        "/api/v4/grids/40/features/",
        headers={"Authorization": f"Bearer {token}"},
        json={"title": "After the last"},
    )
    first = await export(sessionmaker)

    await empty_the_catalogue(engine)
    await load(sessionmaker, first)

    assert (added.status_code, added.json()["order"]) == (201, 1_000_000)
    assert [(f["title"], f["order"]) for f in first["features"]] == [
        ("Docs", 0),
        ("Python 3", 1_000_000),
        ("After the last", 1_000_000),
    ]
    assert await export(sessionmaker) == first


async def test_one_feature_id_given_to_two_features_is_refused_and_writes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await load(sessionmaker, with_features())
    before = await export(sessionmaker)
    document = with_features(title="Python")
    document["features"][1]["id"] = 9

    with pytest.raises(CatalogError) as raised:
        await load(sessionmaker, document)

    assert str(raised.value) == "features.1: id 9 is also the id of features.0"
    assert await export(sessionmaker) == before


async def test_importing_twice_changes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await load(sessionmaker, with_features())
    first = await export(sessionmaker)

    again = await load(sessionmaker, with_features())

    assert (again.features, again.cells) == (2, 2)
    assert await export(sessionmaker) == first
    assert await cells(sessionmaker) == [(40, 9, 77, "yes"), (40, 9, 78, "3.9+")]


async def test_a_features_cells_in_the_document_replace_its_cells(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await load(sessionmaker, with_features())

    await load(
        sessionmaker,
        with_features(title="Python", cells=[{"package": 78, "text": "3.10+"}]),
    )

    assert await cells(sessionmaker) == [(40, 9, 78, "3.10+")]
    exported = await export(sessionmaker)
    assert [f["title"] for f in exported["features"]] == ["Docs", "Python"]


async def test_a_document_without_features_keeps_the_cells_of_packages_that_stay(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await load(sessionmaker, with_features())
    document = with_features()
    del document["features"]
    document["packages"][1]["grids"] = []  # package 78 leaves grid 40

    await load(sessionmaker, document)

    assert await cells(sessionmaker) == [(40, 9, 77, "yes")]
    assert [f["id"] for f in (await export(sessionmaker))["features"]] == [3, 9]


async def test_a_feature_moved_to_another_grid_takes_only_the_documents_cells(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await load(sessionmaker, with_features())
    document = with_features(grid=41, cells=[{"package": 78, "text": "moved"}])
    document["grids"].append(
        {"id": 41, "title": "Other", "slug": "other", "packages": [78]}
    )

    await load(sessionmaker, document)

    assert await cells(sessionmaker) == [(41, 9, 78, "moved")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["features"][0].update(grid=41),
            "feature 9 names grid 41, which is not in the catalogue",
        ),
        (
            lambda d: d["features"][0].update(grid="https://x.example/categories/40/"),
            "'https://x.example/categories/40/' is neither an id nor a hyperlink to one of the grids",
        ),
        (
            lambda d: d["features"][0]["cells"].append({"package": 79, "text": "?"}),
            "feature 9 has a cell for package 79, which is not in grid 40",
        ),
        (
            lambda d: d["packages"][1].update(grids=[]),
            "feature 9 has a cell for package 78, which is not in grid 40",
        ),
        (
            lambda d: d["features"][0]["cells"].append({"package": 77, "text": "no"}),
            "feature 9 has two cells for package 77",
        ),
        (
            lambda d: d["features"][1].update(title="Python 3"),
            "features 9 and 3 of grid 40 are both titled 'Python 3'",
        ),
    ],
)
async def test_a_document_whose_matrix_does_not_hold_together_writes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], change: Any, message: str
) -> None:
    document = with_features()
    change(document)

    async with sessionmaker() as session:
        with pytest.raises(CatalogError) as raised:
            await import_catalog(session, CatalogDocument.model_validate(document))
        await session.rollback()

    assert str(raised.value) == message
    assert await counts(sessionmaker) == EMPTY


async def test_a_title_another_feature_of_the_grid_holds_is_a_clear_error(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await load(sessionmaker, with_features())
    document = with_features()
    document["features"] = [
        {"id": 10, "grid": 40, "title": "Docs"}  # feature 3's title, under a new id
    ]

    with pytest.raises(CatalogError) as raised:
        await load(sessionmaker, document)

    assert str(raised.value) == (
        "grid_features: the document gives a record a title another feature of its grid already has"
    )


@pytest.mark.parametrize(
    ("feature", "location", "message"),
    [
        (
            {"title": "x" * 101},
            ("features", 0, "title"),
            "String should have at most 100 characters",
        ),
        (
            {"title": ""},
            ("features", 0, "title"),
            "String should have at least 1 character",
        ),
        (
            {"cells": [{"package": 77, "text": "x" * 301}]},
            ("features", 0, "cells", 0, "text"),
            "String should have at most 300 characters",
        ),
        (
            {"cells": [{"package": 77, "text": "a\x00b"}]},
            ("features", 0, "cells", 0, "text"),
            "Value error, must not contain a NUL character",
        ),
        (
            {"order": -1},
            ("features", 0, "order"),
            "Input should be greater than or equal to 0",
        ),
        (
            {"order": 2**31},
            ("features", 0, "order"),
            "Input should be less than or equal to 1000000",
        ),
    ],
)
def test_a_feature_the_columns_cannot_hold_is_refused_by_the_document_schema(
    feature: dict[str, Any], location: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        CatalogDocument.model_validate(with_features(**feature))

    assert [(e["loc"], e["msg"]) for e in raised.value.errors()] == [
        (location, message)
    ]
