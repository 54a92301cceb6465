"""Many clients edit one package at once, on a real server: nothing is lost.

A real `packages-api serve` (uvicorn, its own process and connection pool)
on the test run's database, SQLite or PostgreSQL. Each client sends a whole
new state of the same package in one PATCH, some with an If-Match. Then:
no answer is a 5xx; a stale If-Match is a 412; every 200 answers exactly the
state its client sent (no edit half-applied); the edit log has exactly one
row per acknowledged edit, and replaying it from the first state passes
through each edit's `old` values and ends at the package's final state,
which is exactly one acknowledged client's state.
"""

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.api.conftest import bearer
from tests.factories import make_category, make_grid, make_package
from tests.live import live_server

URL = "/api/v4/packages/2403/"
CLIENTS = 40
GRID_CHOICES = ([], [7], [9], [7, 9])
FIELDS = ("title", "category", "pypi_url", "documentation_url", "grids")


def wanted_state(n: int) -> dict[str, Any]:
    """Client n's whole state of the package: each client's differs in every field
    but category and grids, which only some share."""
    return {
        "title": f"Title {n}",
        "category": 1 + n % 2,
        "pypi_url": f"https://pypi.org/project/tool-{n}/",
        "documentation_url": f"https://docs.example.org/{n}/",
        "grids": GRID_CHOICES[n % 4],
    }


def state_of(body: dict[str, Any]) -> dict[str, Any]:
    """A package answer's fields in the edit log's terms (ids, not links)."""

    def last_id(link: str) -> int:
        return int(link.rstrip("/").rsplit("/", 1)[1])

    return {
        "title": body["title"],
        "category": last_id(body["category"]),
        "pypi_url": body["pypi_url"],
        "documentation_url": body["documentation_url"],
        "grids": [last_id(link) for link in body["grids"]],
    }


@pytest.fixture
async def package(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await make_category(sessionmaker)
    await make_category(sessionmaker, id=2, slug="frameworks", title="Framework")
    await make_grid(sessionmaker, id=7)
    await make_grid(sessionmaker, id=9)
    await make_package(sessionmaker, id=2403, title="First", slug="tool")


async def all_edits(server_url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The whole edit log of the package, oldest first, page by page."""
    found: list[dict[str, Any]] = []
    url: str | None = f"{server_url}{URL}edits/?limit=100"
    async with httpx.AsyncClient(timeout=30) as client:
        while url is not None:
            page = (await client.get(url, headers=headers)).json()
            found.extend(page["results"])
            url = page["next"]
    return found[::-1]


@pytest.mark.usefixtures("package")
async def test_concurrent_edits_are_each_whole_and_none_is_lost(
    database_url: str,
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    auth = await bearer(sessionmaker, "editor", "write")

    with live_server(database_url, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as reader:
            first = await reader.get(URL)
            first_etag = first.headers["etag"]

            async def edit(n: int) -> tuple[int, httpx.Response]:
                headers = dict(auth)
                if n % 3 == 0:
                    # The version every client saw first: at most one of
                    # these can still find it current.
                    headers["If-Match"] = first_etag
                # A client (and connection) each, all in flight at once.
                async with httpx.AsyncClient(base_url=server.url, timeout=60) as one:
                    return n, await one.patch(
                        URL, headers=headers, json=wanted_state(n)
                    )

            answers = await asyncio.gather(*(edit(n) for n in range(CLIENTS)))
            final = await reader.get(URL)
            edits = await all_edits(server.url, auth)

            # Then optimistic locking proper: all send the one current ETag.
            current = final.headers["etag"]

            async def guarded(n: int) -> httpx.Response:
                headers = {**auth, "If-Match": current}
                async with httpx.AsyncClient(base_url=server.url, timeout=60) as one:
                    return await one.patch(URL, headers=headers, json=wanted_state(n))

            racing = await asyncio.gather(
                *(guarded(n) for n in range(CLIENTS, CLIENTS + 20))
            )
            after_race = await all_edits(server.url, auth)
        log = server.log()

    statuses = [response.status_code for _, response in answers]
    assert all(status < 500 for status in statuses), statuses
    assert "Traceback" not in log
    acknowledged = {n: r for n, r in answers if r.status_code == 200}
    unconditional = [r for n, r in answers if n % 3 != 0]
    conditional = [r for n, r in answers if n % 3 == 0]
    assert {r.status_code for r in unconditional} == {200}
    assert {r.status_code for r in conditional} <= {200, 412}
    assert sum(r.status_code == 200 for r in conditional) <= 1
    for response in conditional:
        if response.status_code == 412:
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["etag"] != first_etag

    # Each acknowledged edit answered exactly the state its client sent, and
    # a version of its own.
    for n, response in acknowledged.items():
        assert state_of(response.json()) == wanted_state(n)
    assert len({r.headers["etag"] for r in acknowledged.values()}) == len(acknowledged)

    # The final state is exactly one acknowledged client's whole state.
    assert final.status_code == 200
    final_state = state_of(final.json())
    winners = [n for n in acknowledged if wanted_state(n) == final_state]
    assert len(winners) == 1

    # One log row per acknowledged edit, by the edits' own titles.
    assert len(edits) == len(acknowledged)
    logged_titles = sorted(
        change["new"]
        for entry in edits
        for change in entry["changes"]
        if change["field"] == "title"
    )
    assert logged_titles == sorted(wanted_state(n)["title"] for n in acknowledged)
    assert all(entry["action"] == "edited" for entry in edits)
    assert all(entry["token"]["name"] == "editor" for entry in edits)

    # Replayed in order, the log passes through each edit's old values (the
    # edits were serialised, none wrote over another unseen) and ends at the
    # final state.
    replayed = state_of(first.json())
    for entry in edits:
        for change in entry["changes"]:
            assert change["field"] in FIELDS
            assert replayed[change["field"]] == change["old"], entry
            replayed[change["field"]] = change["new"]
    assert replayed == final_state
    # The last edit logged is the one that won.
    assert edits[-1]["changes"][0] == {
        "field": "title",
        "old": edits[-2]["changes"][0]["new"] if len(edits) > 1 else "First",
        "new": f"Title {winners[0]}",
    }

    # All sent the current ETag: exactly one wins, the others are told 412.
    race = sorted(response.status_code for response in racing)
    assert race == [200] + [412] * 19
    assert len(after_race) == len(edits) + 1
