"""The edit log: every package edit over HTTP, with who, when, and each field's
old and new value; read per package, newest first, with any valid token."""

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.tokens import revoke_token
from app.models import Package, PackageEdit
from tests.api.conftest import bearer
from tests.api.problems import problem
from tests.factories import make_category, make_grid, make_package, sync_ids

URL = "/api/v4/packages/2403/"
EDITS = f"{URL}edits/"
BASE = "http://testserver/api/v4"


@pytest.fixture
async def example(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await make_category(sessionmaker)
    await make_category(sessionmaker, id=2, slug="frameworks", title="Framework")
    await make_grid(sessionmaker, id=7)
    await make_grid(sessionmaker, id=9)
    await make_package(
        sessionmaker,
        id=2403,
        title="Example",
        slug="example",
        repo_url="https://github.com/example/example",
        grid_ids=(7,),
    )
    await sync_ids(sessionmaker, "packages")  # a POST takes the next free id


async def log_of(
    client: httpx.AsyncClient, headers: dict[str, str], path: str = EDITS
) -> Any:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def count_edits(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(PackageEdit)))


@pytest.mark.usefixtures("example")
async def test_an_edit_is_logged_field_by_field_with_its_token(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    read_auth: dict[str, str],
) -> None:
    edited = await client.patch(
        URL,
        headers=auth,
        json={
            "title": "Renamed",
            "slug": "example",  # unchanged: not in the log
            "category": 2,
            "documentation_url": "https://docs.example.org/",
            "repo_url": None,
            "grids": [9, 7],
        },
    )

    log = await log_of(client, read_auth)

    assert edited.status_code == 200
    assert log["count"] == 1
    assert (log["next"], log["previous"]) == (None, None)
    [entry] = log["results"]
    assert entry["package"] == f"{BASE}/packages/2403/"
    assert entry["action"] == "edited"
    assert entry["token"]["name"] == "tests"
    assert isinstance(entry["token"]["id"], int)
    assert entry["at"] >= edited.json()["modified"][:19]
    assert entry["changes"] == [
        {"field": "title", "old": "Example", "new": "Renamed"},
        {"field": "category", "old": 1, "new": 2},
        {
            "field": "repo_url",
            "old": "https://github.com/example/example",
            "new": "",
        },
        {"field": "documentation_url", "old": "", "new": "https://docs.example.org/"},
        {"field": "grids", "old": [7], "new": [7, 9]},
    ]


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, {"title": "Same title"}, 200),  # changes nothing
        ({}, {"slug": "not a slug"}, 422),
        ({}, {"category": 99}, 422),
        ({"If-Match": '"v0-00000000"'}, {"title": "Stale"}, 412),
    ],
)
async def test_an_edit_that_changes_nothing_or_fails_is_not_logged(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
    headers: dict[str, str],
    body: dict[str, Any],
    status: int,
) -> None:
    async with sessionmaker() as session:
        await session.execute(
            update(Package).where(Package.id == 2403).values(title="Same title")
        )
        await session.commit()

    response = await client.patch(URL, headers={**auth, **headers}, json=body)

    assert response.status_code == status
    assert await count_edits(sessionmaker) == 0


@pytest.mark.usefixtures("example")
async def test_addition_and_removal_are_logged_with_the_whole_package(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    admin_auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    created = await client.post(
        "/api/v4/packages/",
        headers=auth,
        json={
            "title": "Tool",
            "slug": "tool",
            "category": 1,
            "pypi_url": "https://pypi.org/project/tool/",
            "grids": [9],
        },
    )
    path = f"/api/v4/packages/{created.json()['id']}/"
    log = await log_of(client, auth, f"{path}edits/")
    removed = await client.delete(path, headers=admin_auth)

    fields = {
        "title": "Tool",
        "slug": "tool",
        "category": 1,
        "repo_url": "",
        "pypi_url": "https://pypi.org/project/tool/",
        "documentation_url": "",
        "grids": [9],
    }
    assert created.status_code == 201
    assert [(e["action"], e["token"]["name"]) for e in log["results"]] == [
        ("created", "tests")
    ]
    assert log["results"][0]["changes"] == [
        {"field": name, "old": None, "new": value} for name, value in fields.items()
    ]
    assert removed.status_code == 204
    # The package is gone, so is its URL; its log is kept in the database.
    gone = await client.get(f"{path}edits/", headers=auth)
    assert gone.status_code == 404
    async with sessionmaker() as session:
        rows = (
            await session.scalars(
                select(PackageEdit)
                .where(PackageEdit.package_id == created.json()["id"])
                .order_by(PackageEdit.id)
            )
        ).all()
    assert [(row.action, row.token_name) for row in rows] == [
        ("created", "tests"),
        ("deleted", "admin"),
    ]
    assert rows[1].changes == [
        {"field": name, "old": value, "new": None} for name, value in fields.items()
    ]


@pytest.mark.usefixtures("example")
async def test_the_log_is_newest_first_and_paged(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for n in range(5):
        response = await client.patch(URL, headers=auth, json={"title": f"T{n}"})
        assert response.status_code == 200

    first = await log_of(client, auth, f"{EDITS}?limit=2")
    second = await log_of(client, auth, f"{EDITS}?limit=2&offset=2")
    last = await log_of(client, auth, f"{EDITS}?limit=2&offset=4")
    by_slug = await log_of(client, auth, "/api/v4/packages/example/edits/")

    def titles(page: Any) -> list[str]:
        return [entry["changes"][0]["new"] for entry in page["results"]]

    assert first["count"] == 5
    assert titles(first) == ["T4", "T3"]
    assert first["next"] == f"{BASE}/packages/2403/edits/?limit=2&offset=2"
    assert first["previous"] is None
    assert titles(second) == ["T2", "T1"]
    assert second["previous"] == f"{BASE}/packages/2403/edits/?limit=2"
    assert titles(last) == ["T0"]
    assert last["next"] is None
    assert titles(by_slug) == ["T4", "T3", "T2", "T1", "T0"]
    ids = [entry["id"] for entry in by_slug["results"]]
    assert ids == sorted(ids, reverse=True)


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize("authorization", [None, "Bearer pkapi_not-a-real-token"])
async def test_the_log_needs_a_valid_token(
    client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = await client.get(EDITS, headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith(
        'Bearer realm="packages-api"'
    )
    assert response.json()["instance"] == EDITS


@pytest.mark.usefixtures("example")
async def test_the_log_is_not_kept_by_caches(
    client: httpx.AsyncClient, read_auth: dict[str, str]
) -> None:
    response = await client.get(EDITS, headers=read_auth)

    assert response.headers["cache-control"] == "private, no-store"
    assert "etag" not in response.headers


@pytest.mark.usefixtures("example")
async def test_a_revoked_token_keeps_its_name_in_the_log(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    leaver = await bearer(sessionmaker, "leaver", "write")
    await client.patch(URL, headers=leaver, json={"title": "Theirs"})
    async with sessionmaker() as session:
        assert await revoke_token(session, "leaver")
        await session.commit()

    refused = await client.patch(URL, headers=leaver, json={"title": "Again"})
    log = await log_of(client, auth)

    assert refused.status_code == 401
    assert refused.json() == problem(401, "Invalid token.", URL)
    assert [entry["token"]["name"] for entry in log["results"]] == ["leaver"]


@pytest.mark.usefixtures("example")
async def test_grid_membership_changes_made_from_the_package_are_logged(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    await client.patch(URL, headers=auth, json={"grids": []})

    log = await log_of(client, auth)

    assert log["results"][0]["changes"] == [{"field": "grids", "old": [7], "new": []}]


@pytest.mark.usefixtures("example")
async def test_joining_or_leaving_a_grid_from_the_grid_is_logged_too(
    client: httpx.AsyncClient, auth: dict[str, str], admin_auth: dict[str, str]
) -> None:
    joined = await client.post(
        "/api/v4/grids/9/packages/", headers=auth, json={"package": 2403}
    )
    again = await client.post(
        "/api/v4/grids/9/packages/", headers=auth, json={"package": 2403}
    )
    left = await client.delete("/api/v4/grids/7/packages/2403/", headers=admin_auth)

    log = await log_of(client, auth)

    assert (joined.status_code, again.status_code, left.status_code) == (201, 200, 204)
    assert [(e["token"]["name"], e["changes"]) for e in log["results"]] == [
        ("admin", [{"field": "grids", "old": [7, 9], "new": [9]}]),
        ("tests", [{"field": "grids", "old": [7], "new": [7, 9]}]),
    ]
