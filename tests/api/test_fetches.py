"""`/api/v4/packages/{id or slug}/fetch/`: ask for a refresh, read how it went."""

from datetime import UTC, datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.fetcher.client import create_http_client
from app.fetcher.refresh import refresh_due
from tests.api.conftest import ClientFactory
from tests.api.problems import not_found
from tests.factories import make_category, make_fetch_state, make_package

FETCH = "/api/v4/packages/7/fetch/"


async def seed(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await make_category(sessionmaker)
    await make_package(
        sessionmaker,
        id=7,
        slug="seven",
        repo_url="https://example.org/code/seven",
        pypi_url="https://pypi.org/project/seven/",
    )


async def test_the_fetch_state_before_any_refresh(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await seed(sessionmaker)

    response = await client.get("/api/v4/packages/seven/fetch")

    assert response.status_code == 200
    assert response.json() == {
        "package": "http://testserver/api/v4/packages/7/",
        "state": "idle",
        "requested_at": None,
        "started_at": None,
        "finished_at": None,
        "next_due_at": None,
        "sources": [
            {
                "source": "repo",
                "upstream": None,
                "url": "https://example.org/code/seven",
                "status": "unsupported",
                "ok": None,
                "last_attempt_at": None,
                "last_success_at": None,
                "last_error": None,
                "error_count": 0,
                "next_try_at": None,
                "unsupported": [],
            },
            {
                "source": "pypi",
                "upstream": "pypi",
                "url": "https://pypi.org/project/seven/",
                "status": "never",
                "ok": None,
                "last_attempt_at": None,
                "last_success_at": None,
                "last_error": None,
                "error_count": 0,
                "next_try_at": None,
                "unsupported": [],
            },
        ],
    }


async def test_asking_for_a_refresh_needs_a_token(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await seed(sessionmaker)

    response = await client.post(FETCH)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="packages-api"'
    assert (await client.get(FETCH)).json()["state"] == "idle"


async def test_a_refresh_is_queued_once_and_then_runs(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    auth: dict[str, str],
    settings: Settings,
) -> None:
    await seed(sessionmaker)

    first = await client.post(FETCH, headers=auth)
    second = await client.post("/api/v4/packages/seven/fetch", headers=auth)

    assert first.status_code == second.status_code == 202
    assert first.headers["location"] == "http://testserver/api/v4/packages/7/fetch/"
    assert first.json()["state"] == second.json()["state"] == "queued"
    assert first.json()["requested_at"] == second.json()["requested_at"]
    requested = datetime.fromisoformat(first.json()["requested_at"])
    assert requested.tzinfo is not None

    # The upstreams point at a closed loopback port: the run fails, and says so.
    async with create_http_client(settings) as http_client:
        summary = await refresh_due(settings, sessionmaker, http_client, owner="t")
    state = (await client.get(FETCH)).json()

    assert (summary.updated, summary.failed) == (0, 1)
    assert state["state"] == "failed"
    assert state["requested_at"] == first.json()["requested_at"]
    started = datetime.fromisoformat(state["started_at"])
    finished = datetime.fromisoformat(state["finished_at"])
    due = datetime.fromisoformat(state["next_due_at"])
    assert requested <= started <= finished <= datetime.now(UTC)
    assert due - finished == settings.fetch_interval
    pypi = state["sources"][1]
    assert (pypi["source"], pypi["ok"], pypi["error_count"]) == ("pypi", False, 1)
    assert pypi["last_error"] == "transient: connection failed"
    assert pypi["next_try_at"] is not None

    again = await client.post(FETCH, headers=auth)
    assert again.json()["state"] == "queued"
    assert again.json()["requested_at"] > first.json()["requested_at"]


async def test_an_unknown_package_has_no_fetch_state(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    assert (await client.get("/api/v4/packages/404/fetch/")).json() == not_found(
        "/api/v4/packages/404/fetch/"
    )
    response = await client.post("/api/v4/packages/nope/fetch/", headers=auth)
    assert (response.status_code, response.json()) == (
        404,
        not_found("/api/v4/packages/nope/fetch/"),
    )


async def test_a_stored_error_is_shown_without_any_configured_secret(
    client_with: ClientFactory, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await seed(sessionmaker)
    await make_fetch_state(
        sessionmaker,
        package_id=7,
        source="pypi",
        status="failed",
        error_count=1,
        last_error="401 bad credentials for s3cr3t-host-token-value",
    )

    async with client_with(
        gitea_hosts="git.example.org",
        gitea_host_tokens="git.example.org=s3cr3t-host-token-value",
    ) as client:
        state = (await client.get(FETCH)).json()

    assert state["sources"][1]["last_error"] == "401 bad credentials for [redacted]"
