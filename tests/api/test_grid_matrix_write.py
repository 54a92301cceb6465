"""Editing a grid's matrix with a token: features, cells and the grid's packages."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.tokens import create_token
from app.grids import repository
from app.models import GridCell
from tests.api.bodies import BASE
from tests.api.problems import invalid
from tests.factories import (
    make_category,
    make_cells,
    make_feature,
    make_grid,
    make_package,
    sync_ids,
)

FORMS = "/api/v4/grids/forms"
FROZEN = "/api/v4/grids/frozen"
LOCKED = "Grid 'frozen' is locked: its features, cells and packages cannot be changed."


@pytest.fixture
async def grids(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Grid 7 (forms) with packages 3 and 6; grid 8 (frozen) is locked."""
    await make_category(sessionmaker)
    await make_grid(sessionmaker, id=7, title="Forms", slug="forms")
    await make_grid(sessionmaker, id=8, title="Frozen", slug="frozen", is_locked=True)
    await make_grid(sessionmaker, id=10)
    await make_package(sessionmaker, id=3, slug="crispy", score=10, grid_ids=(7, 8))
    await make_package(sessionmaker, id=6, slug="nango", grid_ids=(7, 10))
    await make_package(sessionmaker, id=9, slug="outsider")
    await make_feature(sessionmaker, id=1, grid_id=7, title="Python 3", order=0)
    await make_feature(sessionmaker, id=2, grid_id=7, title="Docs", order=1)
    await make_feature(sessionmaker, id=4, grid_id=10, title="Python 3")
    await make_feature(sessionmaker, id=5, grid_id=8, title="License")
    await make_cells(sessionmaker, 7, {(1, 3): "yes", (1, 6): "no", (2, 3): "Sphinx"})
    await make_cells(sessionmaker, 8, {(5, 3): "MIT"})
    await make_cells(sessionmaker, 10, {(4, 6): "yes"})
    await sync_ids(sessionmaker, "grid_features")
    await sync_ids(sessionmaker, "packages")  # a POST takes the next free id


async def matrix(client: httpx.AsyncClient, path: str = FORMS) -> dict[str, Any]:
    response = await client.get(f"{path}/matrix/")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def cell_triples(body: dict[str, Any]) -> list[tuple[int, int, str]]:
    return [(c["feature"], c["package"], c["text"]) for c in body["cells"]]


async def all_cells(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(
                GridCell.grid_id,
                GridCell.feature_id,
                GridCell.package_id,
                GridCell.text,
            ).order_by(GridCell.grid_id, GridCell.feature_id, GridCell.package_id)
        )
        return [tuple(row) for row in rows]


INITIAL_CELLS = [
    (7, 1, 3, "yes"),
    (7, 1, 6, "no"),
    (7, 2, 3, "Sphinx"),
    (8, 5, 3, "MIT"),
    (10, 4, 6, "yes"),
]


class Clock:
    """The instants a write happened between."""

    before: datetime
    after: datetime

    def holds(self, served: str) -> bool:
        moment = datetime.fromisoformat(served)
        return self.before <= moment <= self.after


@contextmanager
def clock() -> Iterator[Clock]:
    span = Clock()
    span.before = datetime.now(UTC)
    yield span
    span.after = datetime.now(UTC)


# -- features ------------------------------------------------------------------


@pytest.mark.usefixtures("grids")
async def test_a_new_feature_goes_after_the_last_row(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    with clock() as when:
        response = await client.post(
            f"{FORMS}/features/",
            headers=auth,
            json={"title": "  Bootstrap 5 ", "description": "Template packs."},
        )

    body = response.json()
    assert response.status_code == 201
    assert response.headers["location"] == f"{BASE}/grids/7/features/6/"
    assert {k: v for k, v in body.items() if k not in ("created", "modified")} == {
        "id": 6,
        "title": "Bootstrap 5",
        "description": "Template packs.",
        "order": 2,
    }
    assert body["created"] == body["modified"]
    assert when.holds(body["created"])
    assert (await client.get(response.headers["location"])).json() == body
    after = await matrix(client)
    assert [f["title"] for f in after["features"]] == [
        "Python 3",
        "Docs",
        "Bootstrap 5",
    ]
    assert when.holds(after["grid"]["modified"])


@pytest.mark.usefixtures("grids")
async def test_a_new_feature_may_say_where_it_goes(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        f"{FORMS}/features/", headers=auth, json={"title": "License", "order": 0}
    )

    assert (response.status_code, response.json()["order"]) == (201, 0)
    # Equal orders keep the older feature first.
    assert [f["title"] for f in (await matrix(client))["features"]] == [
        "Python 3",
        "License",
        "Docs",
    ]


async def test_the_first_feature_of_a_grid_is_order_zero(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await make_grid(sessionmaker, id=1, slug="empty")
    await sync_ids(sessionmaker, "grid_features")

    response = await client.post(
        "/api/v4/grids/empty/features/", headers=auth, json={"title": "First"}
    )

    assert (response.status_code, response.json()["id"], response.json()["order"]) == (
        201,
        1,
        0,
    )


@pytest.mark.usefixtures("grids")
async def test_features_after_one_at_the_highest_order_still_go_last(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    highest = await client.post(
        f"{FORMS}/features/", headers=auth, json={"title": "Max", "order": 1_000_000}
    )

    after = [
        await client.post(f"{FORMS}/features/", headers=auth, json={"title": title})
        for title in ("AfterMax", "AfterThat")
    ]

    assert (highest.status_code, highest.json()["order"]) == (201, 1_000_000)
    assert [(r.status_code, r.json()["order"]) for r in after] == [
        (201, 1_000_000),
        (201, 1_000_000),
    ]
    assert [f["title"] for f in (await matrix(client))["features"]] == [
        "Python 3",
        "Docs",
        "Max",
        "AfterMax",
        "AfterThat",
    ]


@pytest.mark.usefixtures("grids")
async def test_a_feature_title_is_unique_within_its_grid(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    taken = await client.post(
        f"{FORMS}/features/", headers=auth, json={"title": "Docs"}
    )
    elsewhere = await client.post(
        "/api/v4/grids/10/features/", headers=auth, json={"title": "Docs"}
    )

    assert taken.status_code == 409
    assert taken.json()["detail"] == (
        "Grid 'forms' already has a feature titled 'Docs' (feature 2)."
    )
    assert elsewhere.status_code == 201


@pytest.mark.usefixtures("grids")
async def test_a_feature_is_edited_with_a_merge_patch(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    with clock() as when:
        response = await client.patch(
            f"{FORMS}/features/2/",
            headers={**auth, "Content-Type": "application/merge-patch+json"},
            content=b'{"title": "Documentation", "order": 5}',
        )

    body = response.json()
    assert response.status_code == 200
    assert {k: v for k, v in body.items() if k != "modified"} == {
        "id": 2,
        "title": "Documentation",
        "description": "",
        "order": 5,
        "created": "2025-01-01T00:00:00Z",
    }
    assert when.holds(body["modified"])
    assert when.holds((await matrix(client))["grid"]["modified"])


@pytest.mark.usefixtures("grids")
@pytest.mark.parametrize(
    "patch", [{}, {"title": "Docs"}, {"title": " Docs", "order": 1, "description": ""}]
)
async def test_a_patch_that_changes_nothing_touches_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], patch: dict[str, Any]
) -> None:
    response = await client.patch(f"{FORMS}/features/2/", headers=auth, json=patch)

    assert response.status_code == 200
    assert response.json()["modified"] == "2025-01-01T00:00:00Z"
    assert (await matrix(client))["grid"]["modified"] == "2025-01-01T00:00:00Z"


@pytest.mark.usefixtures("grids")
async def test_renaming_a_feature_to_a_title_its_grid_has_is_409(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.patch(
        f"{FORMS}/features/2/", headers=auth, json={"title": "Python 3"}
    )

    assert response.status_code == 409
    assert response.json()["detail"] == (
        "Grid 'forms' already has a feature titled 'Python 3' (feature 1)."
    )


@pytest.mark.usefixtures("grids")
async def test_deleting_a_feature_deletes_its_cells(
    client: httpx.AsyncClient,
    admin_auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    response = await client.delete(f"{FORMS}/features/1/", headers=admin_auth)
    again = await client.delete(f"{FORMS}/features/1/", headers=admin_auth)

    assert response.status_code == 204
    assert response.content == b""
    assert again.status_code == 404
    assert again.json()["detail"] == "Grid 'forms' has no feature '1'."
    assert [f["id"] for f in (await matrix(client))["features"]] == [2]
    assert await all_cells(sessionmaker) == [c for c in INITIAL_CELLS if c[1] != 1]


@pytest.mark.usefixtures("grids")
@pytest.mark.parametrize(
    ("method", "path", "body", "detail"),
    [
        ("GET", f"{FORMS}/features/4/", None, "Grid 'forms' has no feature '4'."),
        ("PATCH", f"{FORMS}/features/4/", {}, "Grid 'forms' has no feature '4'."),
        ("DELETE", f"{FORMS}/features/99/", None, "Grid 'forms' has no feature '99'."),
        ("GET", f"{FORMS}/features/abc/", None, "Grid 'forms' has no feature 'abc'."),
        (
            "GET",
            f"{FORMS}/features/99999999999/",
            None,
            "Grid 'forms' has no feature '99999999999'.",
        ),
        ("POST", "/api/v4/grids/nope/features/", {"title": "x"}, "Not found."),
        ("GET", "/api/v4/grids/nope/features/1/", None, "Not found."),
    ],
)
async def test_a_feature_of_another_grid_or_none_is_404(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    admin_auth: dict[str, str],
    method: str,
    path: str,
    body: Any,
    detail: str,
) -> None:
    response = await client.request(
        method, path, headers=admin_auth if method == "DELETE" else auth, json=body
    )

    assert response.status_code == 404
    assert response.json()["detail"] == detail


def _error(loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def _invalid(at: str, error: dict[str, Any]) -> dict[str, Any]:
    """The 422 problem at `at` for one fault in a field of the body."""
    assert error["loc"][0] == "body" and len(error["loc"]) == 2
    return invalid(at, f"Invalid input: body.{error['loc'][1]}.", [error])


@pytest.mark.usefixtures("grids")
@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {},
            [_error(["body", "title"], "Field required", "missing")],
        ),
        (
            {"title": "x" * 101},
            [
                _error(
                    ["body", "title"],
                    "String should have at most 100 characters",
                    "string_too_long",
                )
            ],
        ),
        (
            {"title": "   "},
            [
                _error(
                    ["body", "title"],
                    "String should have at least 1 character",
                    "string_too_short",
                )
            ],
        ),
        (
            {"title": "ok", "description": "d" * 1001},
            [
                _error(
                    ["body", "description"],
                    "String should have at most 1000 characters",
                    "string_too_long",
                )
            ],
        ),
        (
            {"title": "a\x00b"},
            [
                _error(
                    ["body", "title"],
                    "Value error, must not contain a NUL character",
                    "value_error",
                )
            ],
        ),
        (
            {"title": "ok", "order": None},
            [_error(["body", "order"], "Value error, may not be null", "value_error")],
        ),
        (
            {"title": "ok", "order": "3"},
            [_error(["body", "order"], "Input should be a valid integer", "int_type")],
        ),
        (
            {"title": "ok", "order": -1},
            [
                _error(
                    ["body", "order"],
                    "Input should be greater than or equal to 0",
                    "greater_than_equal",
                )
            ],
        ),
        (
            {"title": "ok", "order": 1_000_001},
            [
                _error(
                    ["body", "order"],
                    "Input should be less than or equal to 1000000",
                    "less_than_equal",
                )
            ],
        ),
        (
            {"title": "ok", "order": 2**31 - 1},
            [
                _error(
                    ["body", "order"],
                    "Input should be less than or equal to 1000000",
                    "less_than_equal",
                )
            ],
        ),
        (
            {"title": "ok", "grid": 8},
            [
                _error(
                    ["body", "grid"],
                    "Extra inputs are not permitted",
                    "extra_forbidden",
                )
            ],
        ),
    ],
)
async def test_a_bad_feature_is_422_naming_the_field(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    body: dict[str, Any],
    errors: list[dict[str, Any]],
) -> None:
    created = await client.post(f"{FORMS}/features/", headers=auth, json=body)
    patched = await client.patch(
        f"{FORMS}/features/1/", headers=auth, json={"title": "ok", **body}
    )

    assert created.status_code == 422
    assert created.headers["content-type"] == "application/problem+json"
    assert created.json() == _invalid(f"{FORMS}/features/", *errors)
    missing_title = body == {}
    assert patched.status_code == (200 if missing_title else 422)
    if not missing_title:
        assert patched.json() == _invalid(f"{FORMS}/features/1/", *errors)


@pytest.mark.usefixtures("grids")
async def test_a_patch_may_not_null_a_title(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.patch(
        f"{FORMS}/features/1/", headers=auth, json={"title": None}
    )

    assert response.status_code == 422
    assert response.json() == _invalid(
        f"{FORMS}/features/1/",
        _error(["body", "title"], "Value error, may not be null", "value_error"),
    )


# -- cells -----------------------------------------------------------------------


@pytest.mark.usefixtures("grids")
async def test_a_cell_is_written_then_replaced(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    with clock() as when:
        created = await client.put(
            f"{FORMS}/features/2/cells/nango/", headers=auth, json={"text": " none "}
        )
        replaced = await client.put(
            f"{FORMS}/features/2/cells/6/", headers=auth, json={"text": "README only"}
        )

    assert created.status_code == 201
    assert created.headers["location"] == f"{BASE}/grids/7/features/2/cells/6/"
    assert created.json() == {"feature": 2, "package": 6, "text": "none"}
    assert replaced.status_code == 200
    assert "location" not in replaced.headers
    assert replaced.json() == {"feature": 2, "package": 6, "text": "README only"}
    assert (await client.get(created.headers["location"])).json() == replaced.json()
    after = await matrix(client)
    assert cell_triples(after) == [
        (1, 3, "yes"),
        (1, 6, "no"),
        (2, 3, "Sphinx"),
        (2, 6, "README only"),
    ]
    assert when.holds(after["grid"]["modified"])


@pytest.mark.usefixtures("grids")
async def test_writing_the_same_text_changes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.put(
        f"{FORMS}/features/1/cells/3/", headers=auth, json={"text": "yes"}
    )

    assert response.status_code == 200
    assert (await matrix(client))["grid"]["modified"] == "2025-01-01T00:00:00Z"


@pytest.mark.usefixtures("grids")
async def test_a_cell_is_emptied(
    client: httpx.AsyncClient,
    admin_auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    response = await client.delete(
        f"{FORMS}/features/1/cells/crispy/", headers=admin_auth
    )
    again = await client.delete(f"{FORMS}/features/1/cells/crispy/", headers=admin_auth)
    read = await client.get(f"{FORMS}/features/1/cells/crispy/")

    assert response.status_code == 204
    assert again.status_code == 404
    assert again.json()["detail"] == "Feature 1 has no cell for package 'crispy'."
    assert read.status_code == 404
    assert read.json()["detail"] == "Feature 1 has no cell for package 'crispy'."
    assert await all_cells(sessionmaker) == [
        c for c in INITIAL_CELLS if c[1:3] != (1, 3)
    ]


@pytest.mark.usefixtures("grids")
async def test_a_cell_for_a_package_not_in_the_grid_is_409(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    response = await client.put(
        f"{FORMS}/features/1/cells/outsider/", headers=auth, json={"text": "yes"}
    )

    assert response.status_code == 409
    assert response.json()["detail"] == (
        "Package 'outsider' is not in grid 'forms': add it to the grid before "
        "writing its cells."
    )
    assert await all_cells(sessionmaker) == INITIAL_CELLS


@pytest.mark.usefixtures("grids")
@pytest.mark.parametrize(
    ("method", "path", "detail"),
    [
        ("PUT", f"{FORMS}/features/1/cells/nope/", "No package 'nope'."),
        ("DELETE", f"{FORMS}/features/1/cells/999/", "No package '999'."),
        ("GET", f"{FORMS}/features/1/cells/nope/", "No package 'nope'."),
        ("PUT", f"{FORMS}/features/4/cells/6/", "Grid 'forms' has no feature '4'."),
        (
            "PUT",
            f"{FORMS}/features/1/cells/{'x' * 300}/",
            "No package '" + "x" * 98 + "….",
        ),
        ("PUT", "/api/v4/grids/99/features/1/cells/3/", "Not found."),
    ],
)
async def test_a_cell_of_an_unknown_package_or_feature_is_404(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    admin_auth: dict[str, str],
    method: str,
    path: str,
    detail: str,
) -> None:
    body = {"text": "yes"} if method == "PUT" else None

    response = await client.request(
        method, path, headers=admin_auth if method == "DELETE" else auth, json=body
    )

    assert response.status_code == 404
    assert response.json()["detail"] == detail


@pytest.mark.usefixtures("grids")
@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {"text": "x" * 301},
            _error(
                ["body", "text"],
                "String should have at most 300 characters",
                "string_too_long",
            ),
        ),
        (
            {"text": ""},
            _error(
                ["body", "text"],
                "String should have at least 1 character",
                "string_too_short",
            ),
        ),
        (
            {"text": " \n "},
            _error(
                ["body", "text"],
                "String should have at least 1 character",
                "string_too_short",
            ),
        ),
        (
            {"text": None},
            _error(["body", "text"], "Value error, may not be null", "value_error"),
        ),
        (
            {"text": 5},
            _error(["body", "text"], "Input should be a valid string", "string_type"),
        ),
        ({}, _error(["body", "text"], "Field required", "missing")),
    ],
)
async def test_a_bad_cell_is_422_naming_the_field(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    body: dict[str, Any],
    error: dict[str, Any],
) -> None:
    response = await client.put(f"{FORMS}/features/1/cells/3/", headers=auth, json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == _invalid(f"{FORMS}/features/1/cells/3/", error)


@pytest.mark.usefixtures("grids")
async def test_a_cell_of_three_hundred_characters_fits(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.put(
        f"{FORMS}/features/1/cells/3/", headers=auth, json={"text": "é" * 300}
    )

    assert response.status_code == 200
    assert cell_triples(await matrix(client))[0] == (1, 3, "é" * 300)


# -- packages (columns) --------------------------------------------------------


@pytest.mark.usefixtures("grids")
@pytest.mark.parametrize(
    "reference",
    [9, "9", "outsider", f"{BASE}/packages/9/", "https://a.example/api/v4/packages/9"],
)
async def test_a_package_is_added_to_a_grid(
    client: httpx.AsyncClient, auth: dict[str, str], reference: int | str
) -> None:
    with clock() as when:
        response = await client.post(
            f"{FORMS}/packages/", headers=auth, json={"package": reference}
        )

    body = response.json()
    assert response.status_code == 201
    assert response.headers["location"] == f"{BASE}/grids/7/packages/9/"
    assert body["packages"] == [f"{BASE}/packages/{i}/" for i in (3, 6, 9)]
    assert when.holds(body["modified"])
    assert [p["slug"] for p in (await matrix(client))["packages"]] == [
        "crispy",
        "nango",
        "outsider",
    ]
    package = (await client.get("/api/v4/packages/9/")).json()
    assert package["grids"] == [f"{BASE}/grids/7/"]


@pytest.mark.usefixtures("grids")
async def test_adding_a_package_already_in_the_grid_is_200_and_changes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        f"{FORMS}/packages/", headers=auth, json={"package": "nango"}
    )

    assert response.status_code == 200
    assert response.json()["packages"] == [f"{BASE}/packages/{i}/" for i in (3, 6)]
    assert response.json()["modified"] == "2025-01-01T00:00:00Z"


@pytest.mark.usefixtures("grids")
@pytest.mark.parametrize(
    ("reference", "error"),
    [
        (
            "nope",
            "no package is named 'nope' (give an id, a slug or a hyperlink to one of the packages)",
        ),
        (
            999,
            "no package is named 999 (give an id, a slug or a hyperlink to one of the packages)",
        ),
        (
            0,
            "no package is named 0 (give an id, a slug or a hyperlink to one of the packages)",
        ),
        (
            f"{BASE}/grids/7/",
            f"no package is named '{BASE}/grids/7/' (give an id, a slug or a hyperlink to one of the packages)",
        ),
    ],
)
async def test_adding_an_unknown_package_is_422_naming_it(
    client: httpx.AsyncClient, auth: dict[str, str], reference: Any, error: str
) -> None:
    response = await client.post(
        f"{FORMS}/packages/", headers=auth, json={"package": reference}
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == _invalid(
        f"{FORMS}/packages/", _error(["body", "package"], error, "reference")
    )


@pytest.mark.usefixtures("grids")
@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, _error(["body", "package"], "Field required", "missing")),
        (
            {"package": True},
            _error(
                ["body", "package"],
                "Value error, must be an id, a slug or a hyperlink to a package",
                "value_error",
            ),
        ),
        (
            {"package": 1.5},
            _error(
                ["body", "package"],
                "Value error, must be an id, a slug or a hyperlink to a package",
                "value_error",
            ),
        ),
        (
            {"package": None},
            _error(["body", "package"], "Value error, may not be null", "value_error"),
        ),
    ],
)
async def test_a_bad_package_reference_is_422(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    body: dict[str, Any],
    error: dict[str, Any],
) -> None:
    response = await client.post(f"{FORMS}/packages/", headers=auth, json=body)

    assert response.status_code == 422
    assert response.json() == _invalid(f"{FORMS}/packages/", error)


@pytest.mark.usefixtures("grids")
async def test_removing_a_package_from_a_grid_removes_its_cells_there_only(
    client: httpx.AsyncClient,
    admin_auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    with clock() as when:
        response = await client.delete(f"{FORMS}/packages/nango/", headers=admin_auth)
    again = await client.delete(f"{FORMS}/packages/nango/", headers=admin_auth)

    assert response.status_code == 204
    assert again.status_code == 404
    assert again.json()["detail"] == "Package 'nango' is not in grid 'forms'."
    after = await matrix(client)
    assert [p["id"] for p in after["packages"]] == [3]
    assert when.holds(after["grid"]["modified"])
    assert await all_cells(sessionmaker) == [
        c for c in INITIAL_CELLS if c[0::2] != (7, 6)
    ]


# -- the same rules through the other doors ------------------------------------


@pytest.mark.usefixtures("grids")
async def test_a_package_edit_that_keeps_a_grid_keeps_its_cells_there(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    # Package 6 is in grids 7 and 10; it leaves 10 and joins none.
    response = await client.patch(
        "/api/v4/packages/6/", headers=auth, json={"grids": [7]}
    )

    assert response.status_code == 200
    assert await all_cells(sessionmaker) == [c for c in INITIAL_CELLS if c[0] != 10]


@pytest.mark.usefixtures("grids")
async def test_a_package_edit_marks_the_grids_it_joins_or_leaves_as_modified(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    async def modified() -> dict[int, str]:
        grids = (await client.get("/api/v4/grids/")).json()["results"]
        return {g["id"]: g["modified"] for g in grids}

    with clock() as leaving:
        left = await client.patch(
            "/api/v4/packages/nango/", headers=auth, json={"grids": [10]}
        )
    after_leaving = await modified()
    with clock() as joining:
        joined = await client.post(
            "/api/v4/packages/",
            headers=auth,
            json={"title": "New", "slug": "new", "category": 1, "grids": [10]},
        )
    after_joining = await modified()

    assert (left.status_code, joined.status_code) == (200, 201)
    assert leaving.holds(after_leaving[7])
    assert after_leaving[10] == after_leaving[8] == "2025-01-01T00:00:00Z"
    assert joining.holds(after_joining[10])
    assert after_joining[7] == after_leaving[7]


@pytest.mark.usefixtures("grids")
async def test_a_package_edit_that_keeps_its_grids_leaves_them_alone(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.patch(
        "/api/v4/packages/nango/", headers=auth, json={"grids": [10, 7], "title": "N"}
    )

    assert response.status_code == 200
    grids = (await client.get("/api/v4/grids/")).json()["results"]
    assert {g["modified"] for g in grids} == {"2025-01-01T00:00:00Z"}


@pytest.mark.usefixtures("grids")
async def test_deleting_a_package_deletes_its_cells(
    client: httpx.AsyncClient,
    admin_auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    with clock() as when:
        response = await client.delete("/api/v4/packages/6/", headers=admin_auth)

    assert response.status_code == 204
    grids = (await client.get("/api/v4/grids/")).json()["results"]
    assert [(g["id"], when.holds(g["modified"])) for g in grids] == [
        (10, True),
        (8, False),
        (7, True),
    ]
    assert await all_cells(sessionmaker) == [
        (7, 1, 3, "yes"),
        (7, 2, 3, "Sphinx"),
        (8, 5, 3, "MIT"),
    ]


@pytest.mark.usefixtures("grids")
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/api/v4/packages/6/", {"grids": [7, 8, 10]}),  # joins frozen
        ("PATCH", "/api/v4/packages/3/", {"grids": [7]}),  # leaves frozen
        (
            "POST",
            "/api/v4/packages/",
            {"title": "New", "slug": "new", "category": 1, "grids": [8]},
        ),
    ],
)
async def test_a_package_edit_may_not_change_a_locked_grid(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
    method: str,
    path: str,
    body: dict[str, Any],
) -> None:
    before = await matrix(client, FROZEN)

    response = await client.request(method, path, headers=auth, json=body)

    assert response.status_code == 409
    assert response.json()["detail"] == LOCKED
    assert await matrix(client, FROZEN) == before
    assert (await client.get("/api/v4/packages/new/")).status_code == 404
    assert await all_cells(sessionmaker) == INITIAL_CELLS


@pytest.mark.usefixtures("grids")
async def test_a_package_in_a_locked_grid_may_change_its_other_grids(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.patch(
        "/api/v4/packages/3/", headers=auth, json={"grids": [8, 10], "title": "C"}
    )

    assert response.status_code == 200
    assert response.json()["grids"] == [f"{BASE}/grids/8/", f"{BASE}/grids/10/"]


@pytest.mark.usefixtures("grids")
async def test_a_package_in_a_locked_grid_cannot_be_removed(
    client: httpx.AsyncClient,
    admin_auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    before = await matrix(client, FROZEN)

    response = await client.delete("/api/v4/packages/3/", headers=admin_auth)

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == LOCKED
    assert (await client.get("/api/v4/packages/3/")).status_code == 200
    assert await matrix(client, FROZEN) == before
    assert await all_cells(sessionmaker) == INITIAL_CELLS


# -- locked grids, tokens, bodies ----------------------------------------------


EDITS = [
    ("POST", f"{FROZEN}/features/", {"title": "New"}),
    ("PATCH", f"{FROZEN}/features/5/", {"title": "Licence"}),
    ("DELETE", f"{FROZEN}/features/5/", None),
    ("DELETE", f"{FROZEN}/features/999/", None),
    ("PUT", f"{FROZEN}/features/5/cells/3/", {"text": "BSD"}),
    ("DELETE", f"{FROZEN}/features/5/cells/3/", None),
    ("POST", f"{FROZEN}/packages/", {"package": 6}),
    ("DELETE", f"{FROZEN}/packages/3/", None),
]


@pytest.mark.usefixtures("grids")
async def test_a_locked_grid_refuses_every_edit_with_409(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    admin_auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    before = await matrix(client, FROZEN)

    answers = [
        await client.request(
            method,
            path,
            headers=admin_auth if method == "DELETE" else auth,
            json=body,
        )
        for method, path, body in EDITS
    ]

    assert [(r.status_code, r.json()["detail"]) for r in answers] == [
        (409, LOCKED)
    ] * len(EDITS)
    assert await matrix(client, FROZEN) == before
    assert await all_cells(sessionmaker) == INITIAL_CELLS


@pytest.mark.usefixtures("grids")
@pytest.mark.parametrize("authorization", [None, "Bearer pkapi_not-a-real-token"])
async def test_every_edit_needs_a_token(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    authorization: str | None,
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    edits = [(m, p.replace(FROZEN, FORMS), b) for m, p, b in EDITS]

    answers = [
        await client.request(method, path, headers=headers, json=body)
        for method, path, body in edits
    ]

    assert {r.status_code for r in answers} == {401}
    assert {r.headers["www-authenticate"].split(",")[0] for r in answers} == {
        'Bearer realm="packages-api"'
    }
    assert await all_cells(sessionmaker) == INITIAL_CELLS


@pytest.mark.usefixtures("grids")
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{FORMS}/features/"),
        ("PATCH", f"{FORMS}/features/1/"),
        ("PUT", f"{FORMS}/features/1/cells/3/"),
        ("POST", f"{FORMS}/packages/"),
    ],
)
async def test_a_body_must_be_json_with_each_key_once(
    client: httpx.AsyncClient, auth: dict[str, str], method: str, path: str
) -> None:
    form = await client.request(
        method, path, headers=auth, content=b"title=x", params=None
    )
    twice = await client.request(
        method,
        path,
        headers={**auth, "Content-Type": "application/json"},
        content=b'{"title": "a", "title": "b"}',
    )

    assert form.status_code == 415
    assert twice.status_code == 422
    assert twice.headers["content-type"] == "application/problem+json"
    assert twice.json() == _invalid(
        path, _error(["body", "title"], "key appears twice", "duplicate_key")
    )


@pytest.mark.usefixtures("grids")
async def test_the_edit_routes_are_in_the_allow_header(
    client: httpx.AsyncClient,
) -> None:
    features = await client.options(f"{FORMS}/features/1")
    cells = await client.options(f"{FORMS}/features/1/cells/3/")
    packages = await client.options(f"{FORMS}/packages/3/")

    assert features.headers["allow"] == "GET, PATCH, DELETE, HEAD, OPTIONS"
    assert cells.headers["allow"] == "GET, PUT, DELETE, HEAD, OPTIONS"
    assert packages.headers["allow"] == "DELETE, OPTIONS"


# -- edits at the same time ------------------------------------------------------


@pytest.mark.usefixtures("grids")
async def test_concurrent_new_features_get_one_title_each_and_their_own_orders(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # A token each: requests with one token already wait for each other
    # (each writes the token's last use), and the grid's own lock is tested.
    async with sessionmaker() as session:
        tokens = [await create_token(session, f"editor {i}") for i in range(4)]
        await session.commit()
    titles = ("Templates", "Templates", "Widgets", "Formsets")

    responses = await asyncio.gather(
        *(
            client.post(
                f"{FORMS}/features/",
                headers={"Authorization": f"Bearer {token}"},
                json={"title": title},
            )
            for token, title in zip(tokens, titles, strict=True)
        )
    )

    statuses = sorted(r.status_code for r in responses)
    winner = next(
        r.json()["id"]
        for r in responses
        if r.status_code == 201 and r.json()["title"] == "Templates"
    )
    refused = [r.json()["detail"] for r in responses if r.status_code == 409]
    assert statuses == [201, 201, 201, 409]
    assert refused == [
        f"Grid 'forms' already has a feature titled 'Templates' (feature {winner})."
    ]
    features = (await matrix(client))["features"]
    assert sorted(f["order"] for f in features) == [0, 1, 2, 3, 4]
    assert sorted(f["title"] for f in features) == [
        "Docs",
        "Formsets",
        "Python 3",
        "Templates",
        "Widgets",
    ]


@pytest.mark.usefixtures("grids")
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", f"{FORMS}/features/", {"title": "Docs"}),
        ("PATCH", f"{FORMS}/features/1/", {"title": "Docs"}),
    ],
)
async def test_a_title_taken_after_the_check_is_still_a_409(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    body: dict[str, Any],
) -> None:
    async def no_holder(*_args: Any, **_kwargs: Any) -> None:
        return None  # as if another writer took the title after the check

    monkeypatch.setattr(repository, "feature_titled", no_holder)

    response = await client.request(method, path, headers=auth, json=body)

    assert response.status_code == 409
    assert response.json()["detail"] == (
        "Grid 'forms' already has a feature titled 'Docs'."
    )
    monkeypatch.undo()
    assert [f["title"] for f in (await matrix(client))["features"]] == [
        "Python 3",
        "Docs",
    ]
