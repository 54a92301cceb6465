"""Token scopes: write for edits, admin for removals; and the last-use record."""

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.base import utcnow
from app.models import ApiToken, Package, PackageEdit
from tests.api.conftest import Statements, bearer
from tests.api.problems import problem
from tests.factories import (
    make_category,
    make_feature,
    make_grid,
    make_package,
    sync_ids,
)

GRID = "/api/v4/grids/7"
WRITES = [
    ("POST", "/api/v4/packages/", {"title": "New", "slug": "new", "category": 1}),
    ("PATCH", "/api/v4/packages/2403/", {"title": "Edited"}),
    ("POST", "/api/v4/packages/2403/fetch/", None),
    ("POST", f"{GRID}/features/", {"title": "New row"}),
    ("PATCH", f"{GRID}/features/1/", {"title": "Renamed"}),
    ("PUT", f"{GRID}/features/1/cells/2403/", {"text": "yes"}),
    ("POST", f"{GRID}/packages/", {"package": 2404}),
]
REMOVALS = [
    ("DELETE", "/api/v4/packages/2403/", None),
    ("DELETE", f"{GRID}/features/1/", None),
    ("DELETE", f"{GRID}/features/1/cells/2403/", None),
    ("DELETE", f"{GRID}/packages/2403/", None),
]


@pytest.fixture
async def catalogue(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await make_category(sessionmaker)
    await make_grid(sessionmaker, id=7)
    await make_package(sessionmaker, id=2403, slug="example", grid_ids=(7,))
    await make_package(sessionmaker, id=2404, slug="other")
    await make_feature(sessionmaker, id=1, grid_id=7, title="Python 3")
    await sync_ids(sessionmaker, "packages")  # a POST takes the next free id


async def snapshot(client: httpx.AsyncClient) -> list[Any]:
    """Everything the writes above could change, as clients read it."""
    paths = ["/api/v4/packages/", f"{GRID}/", f"{GRID}/matrix/"]
    return [(await client.get(path)).json() for path in paths]


def forbidden(needed: str, path: str) -> dict[str, Any]:
    detail = (
        f"This operation needs a token with the '{needed}' scope; "
        "this token does not have it."
    )
    return problem(403, detail, path)


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(("method", "path", "body"), WRITES)
async def test_a_read_token_may_not_write(
    client: httpx.AsyncClient,
    read_auth: dict[str, str],
    method: str,
    path: str,
    body: Any,
) -> None:
    before = await snapshot(client)

    response = await client.request(method, path, headers=read_auth, json=body)

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == forbidden("write", path)
    assert await snapshot(client) == before


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(("method", "path", "body"), REMOVALS)
async def test_a_write_token_may_not_remove(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
    method: str,
    path: str,
    body: Any,
) -> None:
    await client.put(
        f"{GRID}/features/1/cells/2403/", headers=auth, json={"text": "yes"}
    )
    before = await snapshot(client)

    response = await client.request(method, path, headers=auth, json=body)

    assert response.status_code == 403
    assert response.json() == forbidden("admin", path)
    assert await snapshot(client) == before
    async with sessionmaker() as session:
        removed = await session.scalars(
            select(PackageEdit.action).where(PackageEdit.action == "deleted")
        )
        assert removed.all() == []


@pytest.mark.usefixtures("catalogue")
async def test_an_admin_token_may_do_everything(
    client: httpx.AsyncClient, admin_auth: dict[str, str]
) -> None:
    answers = [
        await client.request(method, path, headers=admin_auth, json=body)
        for method, path, body in [*WRITES, *REMOVALS]
    ]

    assert [response.status_code for response in answers] == [
        201,
        200,
        202,
        201,
        200,
        201,
        201,
        204,
        204,
        404,  # the feature went, and its cells with it
        404,  # the package went, and out of the grid with it
    ]


@pytest.mark.usefixtures("catalogue")
async def test_a_token_with_both_scopes_may_write_and_remove(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    headers = await bearer(sessionmaker, "both", "write", "admin")

    edited = await client.patch(
        "/api/v4/packages/2403/", headers=headers, json={"title": "B"}
    )
    removed = await client.delete("/api/v4/packages/2404/", headers=headers)

    assert (edited.status_code, removed.status_code) == (200, 204)


@pytest.mark.usefixtures("catalogue")
async def test_the_document_says_which_scope_each_write_needs(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()

    needs = {
        (method.upper(), path): operation["responses"]["403"]["description"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "403" in operation["responses"]
    }

    admin = "The token lacks the `admin` scope"
    assert {key: text.startswith(admin) for key, text in needs.items()} == {
        ("POST", "/api/v4/packages/"): False,
        ("PATCH", "/api/v4/packages/{package}/"): False,
        ("DELETE", "/api/v4/packages/{package}/"): True,
        ("POST", "/api/v4/packages/{package}/fetch/"): False,
        ("POST", "/api/v4/grids/{grid}/features/"): False,
        ("PATCH", "/api/v4/grids/{grid}/features/{feature}/"): False,
        ("DELETE", "/api/v4/grids/{grid}/features/{feature}/"): True,
        ("PUT", "/api/v4/grids/{grid}/features/{feature}/cells/{package}/"): False,
        ("DELETE", "/api/v4/grids/{grid}/features/{feature}/cells/{package}/"): True,
        ("POST", "/api/v4/grids/{grid}/packages/"): False,
        ("DELETE", "/api/v4/grids/{grid}/packages/{package}/"): True,
    }
    assert all(
        "`write`" in text for text in needs.values() if not text.startswith(admin)
    )


# -- last use ------------------------------------------------------------------


async def last_used(sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    async with sessionmaker() as session:
        return await session.scalar(
            select(ApiToken.last_used_at).where(ApiToken.name == "tests")
        )


def token_updates(seen: list[str]) -> list[str]:
    return [s for s in seen if s.lstrip().upper().startswith("UPDATE API_TOKENS")]


@pytest.mark.usefixtures("catalogue")
async def test_last_use_is_written_at_most_once_a_minute(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    statements: Statements,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    assert await last_used(sessionmaker) is None
    start = utcnow()

    with statements.recording() as first:
        await client.patch("/api/v4/packages/2403/", headers=auth, json={"title": "A"})
    used = await last_used(sessionmaker)
    with statements.recording() as later:
        for title in ("B", "C"):
            await client.patch(
                "/api/v4/packages/2403/", headers=auth, json={"title": title}
            )
        await client.get("/api/v4/packages/2403/edits/", headers=auth)
    unchanged = await last_used(sessionmaker)

    # A minute on, the next request writes it again, a read as well.
    async with sessionmaker() as session:
        await session.execute(
            update(ApiToken).values(last_used_at=used - timedelta(seconds=61))
        )
        await session.commit()
    with statements.recording() as after_a_minute:
        await client.get("/api/v4/packages/2403/edits/", headers=auth)

    assert len(token_updates(first)) == 1
    assert used is not None and used >= start
    assert token_updates(later) == []
    assert unchanged == used
    assert len(token_updates(after_a_minute)) == 1
    assert await last_used(sessionmaker) >= used


@pytest.mark.usefixtures("catalogue")
async def test_a_refused_request_is_still_a_use(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    response = await client.delete("/api/v4/packages/2403/", headers=auth)

    assert response.status_code == 403
    assert await last_used(sessionmaker) is not None
    async with sessionmaker() as session:
        assert await session.get(Package, 2403) is not None
