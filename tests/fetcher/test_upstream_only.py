"""The fetcher sends requests to the configured upstream APIs and nowhere else.

A trap server on loopback stands for everything that is not an upstream (a
private address, the machine itself, someone else's server): packages point
at it and redirects lead to it, and it must never be asked anything.
"""

from collections.abc import Iterator

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.fetcher.client import upstream_origins
from app.fetcher.refresh import refresh_packages
from app.models import FetchState
from tests.factories import make_package
from tests.fetcher.support import base_url, configured, json_response, stored

pytestmark = pytest.mark.usefixtures("category")

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
def trap() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/", method="GET").respond_with_data("caught")
    server.start()
    yield server
    server.clear()
    server.stop()


async def last_error(sessionmaker: Maker, package_id: int, source: str) -> str | None:
    async with sessionmaker() as session:
        return await session.scalar(
            select(FetchState.last_error).where(
                FetchState.package_id == package_id, FetchState.source == source
            )
        )


async def test_a_redirect_to_another_host_is_not_followed(
    fetch_settings: Settings,
    sessionmaker: Maker,
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    trap: HTTPServer,
) -> None:
    await make_package(
        sessionmaker, id=1, repo_url="https://github.com/owner/name", repo_watchers=42
    )
    upstream.expect_request("/repos/owner/name").respond_with_response(
        json_response(
            {"message": "Moved Permanently"},
            status=301,
            headers={"Location": f"{base_url(trap)}/repos/elsewhere/name"},
        )
    )

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    refused = f"refused: {base_url(trap)} is not a configured upstream"
    package = await stored(sessionmaker, 1)
    assert (package.repo_watchers, package.repo_url) == (
        42,
        "https://github.com/owner/name",
    )
    assert (package.last_exception, package.last_exception_count) == (refused, 1)
    assert await last_error(sessionmaker, 1, "repo") == refused
    assert summary.failed == 1
    # Asked once (a refusal is not retried), and the trap never.
    assert [request.path for request, _ in upstream.log] == ["/repos/owner/name"]
    assert trap.log == []


@pytest.mark.parametrize(
    "location",
    [
        "http://10.0.0.7/repos/owner/name",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/repos/owner/name",
        "http://localhost/repos/owner/name",
    ],
)
async def test_a_redirect_to_a_private_address_is_refused_before_connecting(
    fetch_settings: Settings,
    sessionmaker: Maker,
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    location: str,
) -> None:
    await make_package(sessionmaker, id=1, repo_url="https://github.com/owner/name")
    upstream.expect_request("/repos/owner/name").respond_with_response(
        json_response({"message": "Moved"}, status=302, headers={"Location": location})
    )

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    origin = location.split("/")[0] + "//" + location.split("/")[2]
    package = await stored(sessionmaker, 1)
    assert package.last_exception == f"refused: {origin} is not a configured upstream"


async def test_urls_a_package_names_are_never_asked(
    fetch_settings: Settings,
    sessionmaker: Maker,
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    trap: HTTPServer,
) -> None:
    at_trap = base_url(trap)
    await make_package(
        sessionmaker,
        id=1,
        repo_url=f"{at_trap}/owner/name",
        pypi_url=f"{at_trap}/pypi/name/json",
        documentation_url=f"{at_trap}/docs/",
        repo_watchers=7,
    )

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    # The repository's host is not a forge we fetch from: no request. The
    # PyPI URL is not PyPI's: recorded, no request.
    assert package.last_exception == "not a PyPI project URL"
    assert package.repo_watchers == 7
    assert summary.failed == 1
    assert upstream.log == []
    assert trap.log == []


def test_the_upstream_origins_are_those_the_settings_name(settings: Settings) -> None:
    own = configured(
        settings.model_copy(
            update={
                "github_api_url": "https://api.github.com",
                "gitlab_api_url": "https://gitlab.com/api/v4",
                "bitbucket_api_url": "https://api.bitbucket.org/2.0",
                "codeberg_api_url": "https://codeberg.org/api/v1",
                "pypi_url": "https://pypi.org",
            }
        ),
        GITLAB_HOSTS="git.example.org,gl.example.net=http://10.1.2.3:8080/api/v4",
        GITEA_HOSTS="forge.example.com",
    )

    assert upstream_origins(own) == {
        ("https", "api.github.com", 443),
        ("https", "gitlab.com", 443),
        ("https", "api.bitbucket.org", 443),
        ("https", "codeberg.org", 443),
        ("https", "pypi.org", 443),
        ("https", "git.example.org", 443),
        ("http", "10.1.2.3", 8080),
        ("https", "forge.example.com", 443),
    }
