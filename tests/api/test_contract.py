"""The OpenAPI document against the service: what it says is what it does.

Each operation is called into every answer the document lists for it, and
each real answer is checked against the document: its status is listed,
its content type is the documented one, its body validates against the
documented schema (formats too: URIs, date-times), and the documented
headers are there. Then the other way round: every documented answer has
been seen. The document itself must be valid OpenAPI 3.1.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.main import create_app
from tests.factories import (
    make_category,
    make_cells,
    make_feature,
    make_grid,
    make_package,
    sync_ids,
)

# Last-Modified dates are given out once their second is over.
pytestmark = pytest.mark.usefixtures("settled")

PACKAGE = "/api/v4/packages/2403/"
OPERATIONS = {
    ("get", "/"): "get_service_root",
    ("get", "/api/v4/"): "get_api_root",
    ("get", "/api/v4/packages/"): "list_packages",
    ("post", "/api/v4/packages/"): "create_package",
    ("get", "/api/v4/packages/{package}/"): "get_package",
    ("patch", "/api/v4/packages/{package}/"): "update_package",
    ("delete", "/api/v4/packages/{package}/"): "delete_package",
    ("get", "/api/v4/packages/{package}/edits/"): "list_package_edits",
    ("get", "/api/v4/packages/{package}/fetch/"): "get_fetch_state",
    ("post", "/api/v4/packages/{package}/fetch/"): "request_fetch",
    ("get", "/api/v4/categories/"): "list_categories",
    ("get", "/api/v4/categories/{category_id}/"): "get_category",
    ("get", "/api/v4/grids/"): "list_grids",
    ("get", "/api/v4/grids/{grid}/"): "get_grid",
    ("get", "/api/v4/grids/{grid}/matrix/"): "get_grid_matrix",
    ("post", "/api/v4/grids/{grid}/features/"): "create_grid_feature",
    ("get", "/api/v4/grids/{grid}/features/{feature}/"): "get_grid_feature",
    ("patch", "/api/v4/grids/{grid}/features/{feature}/"): "update_grid_feature",
    ("delete", "/api/v4/grids/{grid}/features/{feature}/"): "delete_grid_feature",
    (
        "get",
        "/api/v4/grids/{grid}/features/{feature}/cells/{package}/",
    ): "get_grid_cell",
    (
        "put",
        "/api/v4/grids/{grid}/features/{feature}/cells/{package}/",
    ): "write_grid_cell",
    (
        "delete",
        "/api/v4/grids/{grid}/features/{feature}/cells/{package}/",
    ): "delete_grid_cell",
    ("post", "/api/v4/grids/{grid}/packages/"): "add_grid_package",
    ("delete", "/api/v4/grids/{grid}/packages/{package}/"): "remove_grid_package",
    ("get", "/api/v4/packages/{package}/score/"): "get_package_score",
    ("get", "/api/v4/search/"): "search_catalogue",
    ("get", "/healthz"): "get_health",
    ("get", "/readyz"): "get_readiness",
    ("get", "/metrics"): "get_metrics",
}
# Operations that answer whether or not the database does.
NO_DATABASE = {"/", "/api/v4/", "/healthz", "/metrics"}
DB_DOWN = "postgresql+asyncpg://postgres@127.0.0.1:9/none"  # refuses at once


@dataclass
class Case:
    """One request, the operation it calls and the status it must get."""

    method: str
    path: str
    template: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    etag_of: str | None = None  # send the current ETag of this path as If-None-Match


@dataclass
class Tokens:
    """Authorization headers of a token of each scope."""

    write: dict[str, str]
    admin: dict[str, str]
    read: dict[str, str]


def cases(tokens: Tokens) -> list[Case]:
    auth, admin, reader = tokens.write, tokens.admin, tokens.read
    item = "/api/v4/packages/{package}/"
    fetch = "/api/v4/packages/{package}/fetch/"
    edits = "/api/v4/packages/{package}/edits/"
    bad_type = {**auth, "Content-Type": "text/plain"}
    json_type = {**auth, "Content-Type": "application/json"}
    new = {"title": "New", "slug": "new-package", "category": 1}
    reads = [
        ("/api/v4/", "/api/v4/"),
        ("/api/v4/packages/", "/api/v4/packages/"),
        (PACKAGE, item),
        ("/api/v4/packages/example-package/fetch/", fetch),
        ("/api/v4/categories/", "/api/v4/categories/"),
        ("/api/v4/categories/1/", "/api/v4/categories/{category_id}/"),
        ("/api/v4/grids/", "/api/v4/grids/"),
        ("/api/v4/grids/grid-7/", "/api/v4/grids/{grid}/"),
    ]
    found = [
        *(Case("get", path, template, 200) for path, template in reads),
        *(Case("get", path, template, 304, etag_of=path) for path, template in reads),
        *(Case("get", f"{path}?format=xml", template, 422) for path, template in reads),
        Case("get", "/", "/", 200),
        Case("get", "/healthz", "/healthz", 200),
        Case("get", "/readyz", "/readyz", 200),
        Case("get", "/metrics", "/metrics", 200),
        Case("get", "/api/v4/packages/?limit=0", "/api/v4/packages/", 422),
        Case("get", "/api/v4/packages/nope/", item, 404),
        Case("get", "/api/v4/packages/nope/fetch/", fetch, 404),
        Case("get", "/api/v4/categories/99/", "/api/v4/categories/{category_id}/", 404),
        Case("get", "/api/v4/grids/nope/", "/api/v4/grids/{grid}/", 404),
        # writes
        Case("post", "/api/v4/packages/", "/api/v4/packages/", 201, auth, new),
        Case("post", "/api/v4/packages/", "/api/v4/packages/", 401, {}, new),
        Case("post", "/api/v4/packages/", "/api/v4/packages/", 403, reader, new),
        Case(
            "post",
            "/api/v4/packages/",
            "/api/v4/packages/",
            409,
            auth,
            {**new, "slug": "other-package"},
        ),
        Case(
            "post",
            "/api/v4/packages/",
            "/api/v4/packages/",
            415,
            bad_type,
            content=b"{}",
        ),
        Case("post", "/api/v4/packages/", "/api/v4/packages/", 422, auth, {}),
        Case(
            "post",
            "/api/v4/packages/",
            "/api/v4/packages/",
            413,
            auth,
            {**new, "title": "x" * 70_000},
        ),
        Case("patch", PACKAGE, item, 200, auth, {"title": "Edited"}),
        Case("patch", PACKAGE, item, 401, {}, {"title": "x"}),
        Case("patch", PACKAGE, item, 403, reader, {"title": "x"}),
        Case("patch", "/api/v4/packages/nope/", item, 404, auth, {"title": "x"}),
        Case("patch", PACKAGE, item, 409, auth, {"slug": "other-package"}),
        Case(
            "patch",
            PACKAGE,
            item,
            412,
            {**auth, "If-Match": '"v0-00000000"'},
            {"title": "x"},
        ),
        Case("patch", PACKAGE, item, 415, bad_type, content=b"{}"),
        Case("patch", PACKAGE, item, 422, auth, {"slug": "no spaces"}),
        Case("patch", PACKAGE, item, 413, auth, {"title": "x" * 70_000}),
        Case("patch", PACKAGE, item, 400, json_type, content=b"\xff\xfe{"),
        Case(
            "post",
            "/api/v4/packages/",
            "/api/v4/packages/",
            400,
            json_type,
            content=b'{"title": "\xff"}',
        ),
        Case("post", f"{PACKAGE}fetch/", fetch, 202, auth),
        Case("post", f"{PACKAGE}fetch/", fetch, 401),
        Case("post", f"{PACKAGE}fetch/", fetch, 403, reader),
        Case("post", "/api/v4/packages/nope/fetch/", fetch, 404, auth),
        Case("post", f"{PACKAGE}fetch/?format=xml", fetch, 422, auth),
        Case("delete", PACKAGE, item, 401),
        Case("delete", PACKAGE, item, 403, auth),
        Case("delete", "/api/v4/packages/nope/", item, 404, admin),
        Case("delete", PACKAGE, item, 412, {**admin, "If-Match": '"v0-00000000"'}),
        Case("delete", PACKAGE, item, 409, admin),  # it is in locked grid 8
        # the edit log, which the writes above filled
        Case("get", f"{PACKAGE}edits/", edits, 200, reader),
        Case("get", f"{PACKAGE}edits/?limit=1&offset=1", edits, 200, auth),
        Case("get", f"{PACKAGE}edits/", edits, 401),
        Case("get", "/api/v4/packages/nope/edits/", edits, 404, reader),
        Case("get", f"{PACKAGE}edits/?limit=0", edits, 422, reader),
        *grid_cases(tokens),
        *score_and_search_cases(),
        Case("delete", "/api/v4/packages/2404/", item, 204, admin),
    ]
    return found


GRID = "/api/v4/grids/grid-7/"  # editable, with example-package in it
LOCKED = "/api/v4/grids/grid-8/"


def grid_cases(tokens: Tokens) -> list[Case]:
    """The matrix and its edits, in an order where each sees the last's effect."""
    auth, admin, reader = tokens.write, tokens.admin, tokens.read
    matrix = "/api/v4/grids/{grid}/matrix/"
    features = "/api/v4/grids/{grid}/features/"
    feature = "/api/v4/grids/{grid}/features/{feature}/"
    cell = "/api/v4/grids/{grid}/features/{feature}/cells/{package}/"
    members = "/api/v4/grids/{grid}/packages/"
    member = "/api/v4/grids/{grid}/packages/{package}/"
    bad_type = {**auth, "Content-Type": "text/plain"}
    json_type = {**auth, "Content-Type": "application/json"}
    patch_type = {**auth, "Content-Type": "application/merge-patch+json"}
    big = "x" * 70_000
    not_json = b"\xff\xfe{"
    row = f"{GRID}features/1/"  # "Python 3", with a cell for example-package
    spare = f"{GRID}features/2/"  # "Async", no cells yet
    python3 = f"{row}cells/example-package/"
    return [
        # the matrix
        Case("get", f"{GRID}matrix/", matrix, 200),
        Case("get", f"{GRID}matrix/", matrix, 304, etag_of=f"{GRID}matrix/"),
        Case("get", f"{GRID}matrix/?format=csv", matrix, 200),
        Case("get", f"{GRID}matrix/?format=api", matrix, 200),
        Case("get", f"{GRID}matrix/?format=json", matrix, 200),
        Case("get", "/api/v4/grids/nope/matrix/", matrix, 404),
        Case("get", f"{GRID}matrix/?format=xml", matrix, 422),
        # features (rows)
        Case("get", row, feature, 200),
        Case("get", row, feature, 304, etag_of=row),
        Case("get", f"{row}?format=xml", feature, 422),
        Case("get", f"{GRID}features/99/", feature, 404),
        Case("get", "/api/v4/grids/nope/features/1/", feature, 404),
        Case("post", f"{GRID}features/", features, 201, auth, {"title": "New row"}),
        Case("post", f"{GRID}features/", features, 401, {}, {"title": "x"}),
        Case("post", f"{GRID}features/", features, 403, reader, {"title": "x"}),
        Case(
            "post", "/api/v4/grids/nope/features/", features, 404, auth, {"title": "x"}
        ),
        Case("post", f"{GRID}features/", features, 409, auth, {"title": "Python 3"}),
        Case("post", f"{LOCKED}features/", features, 409, auth, {"title": "x"}),
        Case("post", f"{GRID}features/", features, 415, bad_type, content=b"{}"),
        Case("post", f"{GRID}features/", features, 422, auth, {}),
        Case("post", f"{GRID}features/", features, 413, auth, {"title": big}),
        Case("post", f"{GRID}features/", features, 400, json_type, content=not_json),
        Case("patch", row, feature, 200, patch_type, content=b'{"description": "3.x"}'),
        Case("patch", row, feature, 401, {}, {"title": "x"}),
        Case("patch", row, feature, 403, reader, {"title": "x"}),
        Case("patch", f"{GRID}features/99/", feature, 404, auth, {"title": "x"}),
        Case("patch", spare, feature, 409, auth, {"title": "Python 3"}),
        Case("patch", f"{LOCKED}features/3/", feature, 409, auth, {"title": "x"}),
        Case("patch", row, feature, 415, bad_type, content=b"{}"),
        Case("patch", row, feature, 422, auth, {"order": -1}),
        Case("patch", row, feature, 413, auth, {"title": big}),
        Case("patch", row, feature, 400, json_type, content=not_json),
        # cells (feature x package)
        Case("get", python3, cell, 200),
        Case("get", python3, cell, 304, etag_of=python3),
        Case("get", f"{python3}?format=xml", cell, 422),
        Case("get", f"{spare}cells/example-package/", cell, 404),
        Case("put", f"{spare}cells/example-package/", cell, 201, auth, {"text": "no"}),
        Case("put", python3, cell, 200, auth, {"text": "since 1.0"}),
        Case("put", python3, cell, 401, {}, {"text": "x"}),
        Case("put", python3, cell, 403, reader, {"text": "x"}),
        Case("put", f"{row}cells/nope/", cell, 404, auth, {"text": "x"}),
        Case("put", f"{row}cells/other-package/", cell, 409, auth, {"text": "x"}),
        Case("put", f"{LOCKED}features/3/cells/2403/", cell, 409, auth, {"text": "x"}),
        Case("put", python3, cell, 415, bad_type, content=b"{}"),
        Case("put", python3, cell, 422, auth, {"text": ""}),
        Case("put", python3, cell, 413, auth, {"text": big}),
        Case("put", python3, cell, 400, json_type, content=not_json),
        Case("delete", python3, cell, 401),
        Case("delete", python3, cell, 403, auth),
        Case("delete", python3, cell, 204, admin),
        Case("delete", python3, cell, 404, admin),
        Case("delete", f"{LOCKED}features/3/cells/2403/", cell, 409, admin),
        # packages (columns)
        Case(
            "post", f"{GRID}packages/", members, 201, auth, {"package": "other-package"}
        ),
        Case("post", f"{GRID}packages/", members, 200, auth, {"package": 2404}),
        Case("post", f"{GRID}packages/", members, 401, {}, {"package": 2404}),
        Case("post", f"{GRID}packages/", members, 403, reader, {"package": 2404}),
        Case(
            "post", "/api/v4/grids/nope/packages/", members, 404, auth, {"package": 1}
        ),
        Case("post", f"{LOCKED}packages/", members, 409, auth, {"package": 2404}),
        Case("post", f"{GRID}packages/", members, 415, bad_type, content=b"{}"),
        Case("post", f"{GRID}packages/", members, 422, auth, {"package": "nope"}),
        Case("post", f"{GRID}packages/", members, 413, auth, {"package": big}),
        Case("post", f"{GRID}packages/", members, 400, json_type, content=not_json),
        Case("delete", f"{GRID}packages/other-package/", member, 401),
        Case("delete", f"{GRID}packages/other-package/", member, 403, auth),
        Case("delete", f"{GRID}packages/other-package/", member, 204, admin),
        Case("delete", f"{GRID}packages/other-package/", member, 404, admin),
        Case("delete", f"{LOCKED}packages/example-package/", member, 409, admin),
        # a feature last: its cells go with it
        Case("delete", spare, feature, 401),
        Case("delete", spare, feature, 403, auth),
        Case("delete", spare, feature, 204, admin),
        Case("delete", spare, feature, 404, admin),
        Case("delete", f"{LOCKED}features/3/", feature, 409, admin),
    ]


def score_and_search_cases() -> list[Case]:
    score = "/api/v4/packages/{package}/score/"
    search = "/api/v4/search/"
    return [
        Case("get", f"{PACKAGE}score/", score, 200),
        Case("get", f"{PACKAGE}score/", score, 304, etag_of=f"{PACKAGE}score/"),
        Case("get", "/api/v4/packages/example-package/score/", score, 200),
        Case("get", "/api/v4/packages/nope/score/", score, 404),
        Case("get", f"{PACKAGE}score/?format=xml", score, 422),
        Case("get", f"{search}?q=example", search, 200),
        Case("get", f"{search}?q=example", search, 304, etag_of=f"{search}?q=example"),
        Case("get", f"{search}?q=grid", search, 200),
        Case("get", search, search, 200),
        Case("get", f"{search}?q={'x' * 1001}", search, 422),
        Case("get", f"{search}?q=example&limit=0", search, 422),
        Case("get", f"{search}?q=example&offset=1001", search, 422),
    ]


# Valid bodies of the writes, so that only the database can refuse them.
OUTAGE_BODIES = {
    "/api/v4/grids/{grid}/features/": {"title": "x"},
    "/api/v4/grids/{grid}/features/{feature}/": {"title": "x"},
    "/api/v4/grids/{grid}/features/{feature}/cells/{package}/": {"text": "x"},
    "/api/v4/grids/{grid}/packages/": {"package": 2403},
}
# Queries that make an operation read at all (an empty search does not).
OUTAGE_QUERIES = {"/api/v4/search/": "?q=example"}


def outage_cases(auth: dict[str, str]) -> list[Case]:
    """Every operation that reads the database, with the database away."""
    found = []
    for method, template in OPERATIONS:
        if template in NO_DATABASE:
            continue
        path = template.format(package="2403", category_id="1", grid="7", feature="1")
        path += OUTAGE_QUERIES.get(template, "")
        body = OUTAGE_BODIES.get(template, {"title": "x", "slug": "x", "category": 1})
        writes = method in ("post", "patch", "put")
        found.append(
            Case(
                method,
                path,
                template,
                503,
                auth if method != "get" or template.endswith("/edits/") else {},
                body if writes else None,
            )
        )
    return found


def limited_cases(auth: dict[str, str]) -> list[Case]:
    """Every rate-limited operation, once its client has used up its limit."""
    found = []
    for method, template in OPERATIONS:
        if not template.startswith("/api/"):
            continue
        path = template.format(package="2403", category_id="1", grid="7", feature="1")
        found.append(Case(method, path, template, 429, auth if method != "get" else {}))
    return found


@pytest.fixture
async def limited_client(
    settings: Settings, auth: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client that has made its one read and, with the token, its one write."""
    limited: FastAPI = create_app(
        settings.model_copy(
            update={"rate_limit_writes": "1/hour", "rate_limit_reads": "1/hour"}
        )
    )
    async with (
        LifespanManager(limited),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=limited), base_url="http://testserver"
        ) as client,
    ):
        await client.get("/api/v4/")
        await client.post("/api/v4/packages/nope/fetch/", headers=auth)
        yield client


@pytest.fixture
async def catalogue(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await make_category(sessionmaker)
    await make_grid(sessionmaker, id=7)
    await make_grid(sessionmaker, id=8, is_locked=True)
    await make_package(sessionmaker, id=2403, slug="example-package", grid_ids=(7, 8))
    await make_package(sessionmaker, id=2404, slug="other-package")
    await make_feature(sessionmaker, id=1, grid_id=7, title="Python 3")
    await make_feature(sessionmaker, id=2, grid_id=7, title="Async", order=1)
    await make_feature(sessionmaker, id=3, grid_id=8, title="Locked")
    await sync_ids(sessionmaker, "grid_features")
    await sync_ids(sessionmaker, "packages")
    await make_cells(sessionmaker, 7, {(1, 2403): "yes"})
    await make_cells(sessionmaker, 8, {(3, 2403): "yes"})


@pytest.fixture
async def outage_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    away: FastAPI = create_app(settings.model_copy(update={"database_url": DB_DOWN}))
    async with (
        LifespanManager(away),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=away), base_url="http://testserver"
        ) as client,
    ):
        yield client


def _validator(
    document: dict[str, Any], schema: dict[str, Any]
) -> Draft202012Validator:
    rooted = {**schema, "components": document["components"]}
    return Draft202012Validator(
        rooted, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def check_against_document(
    document: dict[str, Any], case: Case, response: httpx.Response
) -> str:
    """Problems of one real answer against the document ("" when none)."""
    operation = document["paths"][case.template][case.method]
    documented = operation["responses"].get(str(response.status_code))
    if documented is None:
        return f"{response.status_code} is not documented"
    content = documented.get("content")
    if not content:
        return "" if response.content == b"" else "a body where none is documented"
    media_type = response.headers["content-type"].split(";")[0]
    if media_type not in content:
        return f"{media_type} is not one of {sorted(content)}"
    if not media_type.endswith("json"):
        return ""  # Prometheus' text format: no JSON schema to hold it to
    errors = sorted(
        _validator(document, content[media_type]["schema"]).iter_errors(
            response.json()
        ),
        key=str,
    )
    missing = [
        name
        for name in documented.get("headers", {})
        if name.lower() not in response.headers
        and not (name == "Location" and response.status_code == 200)
    ]
    return "; ".join([*(e.message for e in errors), *(f"no {n}" for n in missing)])


async def test_the_document_is_valid_openapi_3_1(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    document = response.json()

    validate(document)  # raises on any fault
    assert document["openapi"] == "3.1.0"


async def test_every_operation_has_a_stable_id_summary_description_and_tags(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()

    found = {
        (method, path): operation["operationId"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert found == OPERATIONS
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["summary"], (method, path)
            assert operation["description"], (method, path)
            assert len(operation["tags"]) == 1, (method, path)


async def test_the_schema_checker_checks_formats(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    root = _validator(document, {"$ref": "#/components/schemas/ApiRoot"})
    category = _validator(document, {"$ref": "#/components/schemas/CategoryRead"})
    links = {"categories": "not a link", "grids": "http://x/", "packages": "http://x/"}
    body = {
        "id": 1,
        "title": "App",
        "slug": "apps!",
        "description": "",
        "title_plural": "Apps",
        "show_pypi": True,
        "created": "yesterday",
        "modified": "2025-01-01T00:00:00Z",
    }

    assert [e.message for e in root.iter_errors(links)] == [
        "'not a link' is not a 'uri'"
    ]
    assert sorted(e.message for e in category.iter_errors(body)) == [
        "'apps!' does not match '^[-a-zA-Z0-9_]+$'",
        "'yesterday' is not a 'date-time'",
    ]


@pytest.mark.usefixtures("catalogue")
async def test_every_answer_matches_the_document_and_every_documented_one_happens(
    client: httpx.AsyncClient,
    outage_client: httpx.AsyncClient,
    limited_client: httpx.AsyncClient,
    auth: dict[str, str],
    admin_auth: dict[str, str],
    read_auth: dict[str, str],
) -> None:
    document = (await client.get("/openapi.json")).json()
    seen: set[tuple[str, str]] = set()
    faults: list[str] = []
    tokens = Tokens(write=auth, admin=admin_auth, read=read_auth)

    for case, http in [
        *((c, client) for c in cases(tokens)),
        *((c, outage_client) for c in outage_cases(auth)),
        *((c, limited_client) for c in limited_cases(auth)),
    ]:
        headers = dict(case.headers)
        if case.etag_of is not None:
            headers["If-None-Match"] = (await client.get(case.etag_of)).headers["etag"]
        response = await http.request(
            case.method,
            case.path,
            headers=headers,
            json=case.json,
            content=case.content,
        )
        if response.status_code != case.status:
            faults.append(
                f"{case.method} {case.path}: {response.status_code}, not {case.status}"
            )
        if fault := check_against_document(document, case, response):
            faults.append(f"{case.method} {case.path} {response.status_code}: {fault}")
        seen.add((OPERATIONS[(case.method, case.template)], str(response.status_code)))

    documented = {
        (operation["operationId"], status)
        for operations in document["paths"].values()
        for operation in operations.values()
        for status in operation["responses"]
    }
    assert faults == []
    assert documented - seen == set()
    assert seen - documented == set()
