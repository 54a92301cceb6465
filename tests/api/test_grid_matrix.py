"""Reading a grid's comparison matrix, as JSON and as CSV."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.grids import repository
from app.models import GridCell, GridFeature, Package, grid_packages
from tests.api.bodies import BASE, grid_body
from tests.api.conftest import ClientFactory, Statements
from tests.api.problems import invalid, not_found
from tests.factories import (
    EPOCH,
    make_category,
    make_cells,
    make_feature,
    make_grid,
    make_package,
)

MARCH = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def forms(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Grid 7 with three packages and three features; grid 8 beside it."""
    await make_category(sessionmaker)
    await make_grid(
        sessionmaker, id=7, title="Forms", slug="forms", description="Form tools."
    )
    await make_grid(sessionmaker, id=8)
    await make_package(
        sessionmaker,
        id=3,
        title="django-crispy-forms",
        slug="django-crispy-forms",
        repo_url="https://github.com/django-crispy-forms/django-crispy-forms",
        repo_watchers=5000,
        repo_forks=700,
        last_updated=MARCH,
        pypi_version="2.3",
        score=4200,
        grid_ids=(7,),
    )
    await make_package(
        sessionmaker,
        id=6,
        title="nango",
        slug="nango",
        repo_watchers=40,
        repo_forks=3,
        pypi_version="0.1",
        score=38,
        grid_ids=(7, 8),
    )
    await make_package(
        sessionmaker,
        id=9,
        title="django-formtools",
        slug="django-formtools",
        repo_watchers=600,
        repo_forks=50,
        score=4200,
        grid_ids=(7,),
    )
    await make_package(sessionmaker, id=10, score=9000)
    await make_feature(sessionmaker, id=1, grid_id=7, title="Python 3", order=0)
    await make_feature(sessionmaker, id=2, grid_id=7, title="Bootstrap 5", order=2)
    await make_feature(
        sessionmaker,
        id=3,
        grid_id=7,
        title="Docs",
        description="Where the docs live.",
        order=1,
    )
    await make_feature(sessionmaker, id=4, grid_id=8, title="Python 3")
    await make_cells(
        sessionmaker,
        7,
        {
            (1, 6): "no",
            (2, 3): "4 and 5",
            (1, 3): "yes",
            (3, 9): 'Sphinx, on "Read the Docs"\nand a wiki',
            (1, 9): "+++",
        },
    )
    await make_cells(sessionmaker, 8, {(4, 6): "no"})


def feature_body(feature_id: int, title: str, order: int, description: str = ""):
    return {
        "id": feature_id,
        "title": title,
        "description": description,
        "order": order,
        "created": "2025-01-01T00:00:00Z",
        "modified": "2025-01-01T00:00:00Z",
    }


def column(package_id: int, **values: Any) -> dict[str, Any]:
    return {
        "id": package_id,
        "url": f"{BASE}/packages/{package_id}/",
        "title": f"Package {package_id}",
        "slug": f"package-{package_id}",
        "repo_url": "",
        "repo_watchers": 0,
        "repo_forks": 0,
        "last_updated": None,
        "pypi_version": "",
        "score": 0,
        **values,
    }


FORMS_MATRIX = {
    "grid": grid_body(
        7,
        package_ids=(3, 6, 9),
        title="Forms",
        slug="forms",
        description="Form tools.",
    ),
    "features": [
        feature_body(1, "Python 3", 0),
        feature_body(3, "Docs", 1, "Where the docs live."),
        feature_body(2, "Bootstrap 5", 2),
    ],
    "packages": [
        column(
            3,
            title="django-crispy-forms",
            slug="django-crispy-forms",
            repo_url="https://github.com/django-crispy-forms/django-crispy-forms",
            repo_watchers=5000,
            repo_forks=700,
            last_updated="2025-03-01T12:00:00Z",
            pypi_version="2.3",
            score=4200,
        ),
        column(
            9,
            title="django-formtools",
            slug="django-formtools",
            repo_watchers=600,
            repo_forks=50,
            score=4200,
        ),
        column(
            6,
            title="nango",
            slug="nango",
            repo_watchers=40,
            repo_forks=3,
            pypi_version="0.1",
            score=38,
        ),
    ],
    "cells": [
        {"feature": 1, "package": 3, "text": "yes"},
        {"feature": 1, "package": 9, "text": "+++"},
        {"feature": 1, "package": 6, "text": "no"},
        {"feature": 3, "package": 9, "text": 'Sphinx, on "Read the Docs"\nand a wiki'},
        {"feature": 2, "package": 3, "text": "4 and 5"},
    ],
}


@pytest.mark.usefixtures("forms")
@pytest.mark.parametrize(
    "path", ["/api/v4/grids/7/matrix/", "/api/v4/grids/forms/matrix"]
)
async def test_the_matrix_holds_features_packages_with_stats_and_every_cell(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == FORMS_MATRIX
    assert list(response.json()) == ["grid", "features", "packages", "cells"]
    assert list(response.json()["packages"][0]) == list(column(1))


@pytest.mark.usefixtures("forms")
async def test_the_stats_are_live(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as session:
        await session.execute(
            Package.__table__.update()
            .where(Package.id == 6)
            .values(repo_watchers=41, score=5000, pypi_version="0.2")
        )
        await session.commit()

    response = await client.get("/api/v4/grids/forms/matrix/")

    assert [
        (p["id"], p["repo_watchers"], p["score"], p["pypi_version"])
        for p in response.json()["packages"]
    ] == [(6, 41, 5000, "0.2"), (3, 5000, 4200, "2.3"), (9, 600, 4200, "")]


@pytest.mark.usefixtures("forms")
async def test_a_matrix_in_another_time_zone_and_format_keeps_them_in_its_links(
    client_with: ClientFactory,
) -> None:
    # ?format=json: ?format=api answers the browsable API's HTML page.
    async with client_with(time_zone="America/New_York") as client:
        response = await client.get("/api/v4/grids/7/matrix/?format=json")

    body = response.json()
    assert response.status_code == 200
    assert body["grid"]["packages"][0] == f"{BASE}/packages/3/?format=json"
    assert body["grid"]["created"] == "2024-12-31T19:00:00-05:00"
    assert body["packages"][0]["url"] == f"{BASE}/packages/3/?format=json"
    assert body["packages"][0]["last_updated"] == "2025-03-01T07:00:00-05:00"
    assert body["features"][0]["modified"] == "2024-12-31T19:00:00-05:00"


async def test_an_empty_grid_has_an_empty_matrix(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_grid(sessionmaker, id=5)

    response = await client.get("/api/v4/grids/5/matrix/")

    assert response.status_code == 200
    assert response.json() == {
        "grid": grid_body(5),
        "features": [],
        "packages": [],
        "cells": [],
    }


@pytest.mark.usefixtures("forms")
@pytest.mark.parametrize(
    "path",
    [
        "/api/v4/grids/99/matrix/",
        "/api/v4/grids/no-such-grid/matrix/",
        "/api/v4/grids/0/matrix/",
        "/api/v4/grids/99999999999999999999/matrix/",
        "/api/v4/grids/%00/matrix/",
    ],
)
async def test_an_unknown_grid_has_no_matrix(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == not_found(path)


@pytest.mark.usefixtures("forms")
async def test_an_unknown_format_is_refused_naming_the_choices(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v4/grids/7/matrix/?format=xml")

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == invalid(
        "/api/v4/grids/7/matrix/",
        "Invalid input: query.format.",
        [
            {
                "loc": ["query", "format"],
                "msg": "Input should be 'json', 'api' or 'csv'",
                "type": "literal_error",
            }
        ],
    )


@pytest.mark.usefixtures("forms")
async def test_head_answers_the_matrix_headers_without_a_body(
    client: httpx.AsyncClient,
) -> None:
    response = await client.head("/api/v4/grids/7/matrix/?format=csv")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert response.content == b""


# -- CSV -------------------------------------------------------------------------

FORMS_CSV = (
    "feature,description,django-crispy-forms,django-formtools,nango\r\n"
    "title,,django-crispy-forms,django-formtools,nango\r\n"
    "repo_watchers,,5000,600,40\r\n"
    "repo_forks,,700,50,3\r\n"
    "last_updated,,2025-03-01T12:00:00Z,,\r\n"
    "pypi_version,,2.3,,0.1\r\n"
    "score,,4200,4200,38\r\n"
    "Python 3,,yes,+++,no\r\n"
    'Docs,Where the docs live.,,"Sphinx, on ""Read the Docs""\nand a wiki",\r\n'
    "Bootstrap 5,,4 and 5,,\r\n"
)


@pytest.mark.usefixtures("forms")
async def test_format_csv_gives_the_same_table(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v4/grids/forms/matrix/?format=csv")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'inline; filename="forms.csv"'
    assert response.text == FORMS_CSV


async def test_csv_text_a_spreadsheet_would_run_as_a_formula_is_quoted(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    await make_grid(sessionmaker, id=5)
    await make_package(
        sessionmaker,
        id=1,
        title="=cmd|' /C calc'!A0",
        pypi_version="@1",
        score=-40,
        grid_ids=(5,),
    )
    await make_feature(
        sessionmaker, id=1, grid_id=5, title="+ratings", description="-and more"
    )
    await make_feature(sessionmaker, id=2, grid_id=5, title="Zażółć", order=1)
    await make_cells(sessionmaker, 5, {(1, 1): "--", (2, 1): '=HYPERLINK("x")'})

    response = await client.get("/api/v4/grids/5/matrix/?format=csv")

    assert response.text == (
        "feature,description,package-1\r\n"
        "title,,'=cmd|' /C calc'!A0\r\n"
        "repo_watchers,,0\r\n"
        "repo_forks,,0\r\n"
        "last_updated,,\r\n"
        "pypi_version,,'@1\r\n"
        "score,,-40\r\n"
        "'+ratings,'-and more,--\r\n"
        'Zażółć,,"\'=HYPERLINK(""x"")"\r\n'
    )


async def test_csv_of_an_empty_grid_is_its_header_rows(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_grid(sessionmaker, id=5)

    response = await client.get("/api/v4/grids/5/matrix/?format=csv")

    assert response.text == (
        "feature,description\r\n"
        "title,\r\n"
        "repo_watchers,\r\n"
        "repo_forks,\r\n"
        "last_updated,\r\n"
        "pypi_version,\r\n"
        "score,\r\n"
    )


# -- a fixed number of statements ------------------------------------------------


async def _large_grid(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Grid 5: 50 packages by 30 features, every cell filled (category 1 exists)."""
    await make_grid(sessionmaker, id=5)
    async with sessionmaker() as session:
        await session.execute(
            insert(Package),
            [
                {
                    "id": i,
                    "title": f"Package {i}",
                    "slug": f"package-{i}",
                    "category_id": 1,
                    "score": i % 7,
                    "created": EPOCH,
                    "modified": EPOCH,
                }
                for i in range(1, 51)
            ],
        )
        await session.execute(
            insert(grid_packages),
            [{"grid_id": 5, "package_id": i} for i in range(1, 51)],
        )
        await session.execute(
            insert(GridFeature),
            [
                {
                    "id": f,
                    "grid_id": 5,
                    "title": f"Feature {f}",
                    "order": 30 - f,
                    "created": EPOCH,
                    "modified": EPOCH,
                }
                for f in range(1, 31)
            ],
        )
        await session.execute(
            insert(GridCell),
            [
                {"grid_id": 5, "feature_id": f, "package_id": p, "text": f"{f}x{p}"}
                for f in range(1, 31)
                for p in range(1, 51)
            ],
        )
        await session.commit()


@pytest.mark.parametrize("query", ["", "?format=csv"])
async def test_a_matrix_is_four_statements_for_a_small_grid_and_a_large_one(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    statements: Statements,
    query: str,
) -> None:
    await make_category(sessionmaker)
    await make_grid(sessionmaker, id=4)
    await make_package(sessionmaker, id=100, grid_ids=(4,))
    await make_feature(sessionmaker, id=100, grid_id=4)
    await make_cells(sessionmaker, 4, {(100, 100): "yes"})
    await _large_grid(sessionmaker)

    with statements.recording() as small:
        small_response = await client.get(f"/api/v4/grids/4/matrix/{query}")
    with statements.recording() as large:
        large_response = await client.get(f"/api/v4/grids/5/matrix/{query}")

    assert (small_response.status_code, large_response.status_code) == (200, 200)
    assert len(small) == 4, small
    assert len(large) == 4, large
    if not query:
        body = large_response.json()
        assert (len(body["features"]), len(body["packages"]), len(body["cells"])) == (
            30,
            50,
            1500,
        )
        assert [f["id"] for f in body["features"]] == list(range(30, 0, -1))
        # Best score first (i % 7), ties by id.
        assert [p["id"] for p in body["packages"][:8]] == [6, 13, 20, 27, 34, 41, 48, 5]
        assert body["cells"][:2] == [
            {"feature": 30, "package": 6, "text": "30x6"},
            {"feature": 30, "package": 13, "text": "30x13"},
        ]
    else:
        lines = large_response.text.split("\r\n")
        assert len(lines) == 1 + 6 + 30 + 1  # header, stats, features, final ""
        assert lines[7].split(",")[:4] == ["Feature 30", "", "30x6", "30x13"]


# -- the OpenAPI document ------------------------------------------------------


async def test_the_openapi_document_describes_the_matrix_precisely(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()

    operation = document["paths"]["/api/v4/grids/{grid}/matrix/"]["get"]
    assert operation["operationId"] == "get_grid_matrix"
    # JSON, CSV with ?format=csv, and the browsable page with ?format=api.
    assert sorted(operation["responses"]["200"]["content"]) == [
        "application/json",
        "text/csv",
        "text/html",
    ]
    schemas = document["components"]["schemas"]
    assert schemas["MatrixRead"]["required"] == [
        "grid",
        "features",
        "packages",
        "cells",
    ]
    column_schema = schemas["MatrixPackage"]["properties"]
    assert column_schema["last_updated"]["anyOf"] == [
        {"type": "string", "format": "date-time"},
        {"type": "null"},
    ]
    assert column_schema["score"]["type"] == "integer"
    assert column_schema["pypi_version"]["type"] == "string"
    assert schemas["CellRead"]["properties"]["text"] == {
        "type": "string",
        "title": "Text",
    }


@pytest.mark.usefixtures("forms")
async def test_a_matrix_is_one_snapshot_while_others_write(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_cells = repository.cells_of

    async def cells_after_a_concurrent_edit(session: AsyncSession, grid_id: int):
        # Another client adds a row and fills it between the matrix's queries.
        async with sessionmaker() as other:
            other.add(
                GridFeature(
                    id=50, grid_id=7, title="New", created=EPOCH, modified=EPOCH
                )
            )
            await other.flush()
            await other.execute(
                insert(GridCell).values(
                    grid_id=7, feature_id=50, package_id=3, text="x"
                )
            )
            await other.commit()
        return await read_cells(session, grid_id)

    monkeypatch.setattr(repository, "cells_of", cells_after_a_concurrent_edit)

    during = await client.get("/api/v4/grids/7/matrix/")
    monkeypatch.undo()
    after = await client.get("/api/v4/grids/7/matrix/")

    assert during.status_code == 200
    assert during.json() == FORMS_MATRIX
    assert [f["id"] for f in after.json()["features"]] == [1, 50, 3, 2]
    assert after.json()["cells"][3] == {"feature": 50, "package": 3, "text": "x"}


async def test_grid_routes_have_operation_ids_named_for_what_they_do(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()

    ids = {
        (method, path): operation["operationId"]
        for path, item in document["paths"].items()
        if path.startswith("/api/v4/grids/")
        for method, operation in item.items()
    }

    grid = "/api/v4/grids/{grid}"
    feature = f"{grid}/features/{{feature}}/"
    assert ids == {
        ("get", "/api/v4/grids/"): "list_grids",
        ("get", f"{grid}/"): "get_grid",
        ("get", f"{grid}/matrix/"): "get_grid_matrix",
        ("post", f"{grid}/features/"): "create_grid_feature",
        ("get", feature): "get_grid_feature",
        ("patch", feature): "update_grid_feature",
        ("delete", feature): "delete_grid_feature",
        ("get", f"{feature}cells/{{package}}/"): "get_grid_cell",
        ("put", f"{feature}cells/{{package}}/"): "write_grid_cell",
        ("delete", f"{feature}cells/{{package}}/"): "delete_grid_cell",
        ("post", f"{grid}/packages/"): "add_grid_package",
        ("delete", f"{grid}/packages/{{package}}/"): "remove_grid_package",
    }


async def test_write_schemas_admit_no_null_and_say_what_fits(
    client: httpx.AsyncClient,
) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]

    update = schemas["FeatureUpdate"]
    assert update["additionalProperties"] is False
    assert "required" not in update
    assert {name: p.get("type") for name, p in update["properties"].items()} == {
        "title": "string",
        "description": "string",
        "order": "integer",
    }
    assert update["properties"]["title"]["maxLength"] == 100
    assert update["properties"]["description"]["maxLength"] == 1000
    assert schemas["FeatureCreate"]["required"] == ["title"]
    assert "default" not in schemas["FeatureCreate"]["properties"]["order"]
    assert schemas["CellWrite"]["properties"]["text"]["maxLength"] == 300
    assert schemas["CellWrite"]["required"] == ["text"]
    assert schemas["GridPackageAdd"]["properties"]["package"]["anyOf"] == [
        {"type": "integer"},
        {"type": "string"},
    ]
