"""Fixtures for the fetcher: a stand-in upstream on loopback and a client."""

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.fetcher.client import create_http_client
from tests.factories import make_category
from tests.fetcher.support import base_url

_real_getaddrinfo = socket.getaddrinfo


def _loopback_names_only(host: Any, *args: Any, **kwargs: Any) -> Any:
    # Resolving a public name would already send a packet off this machine.
    name = host.decode() if isinstance(host, bytes) else str(host)
    try:
        allowed = ipaddress.ip_address(name).is_loopback
    except ValueError:
        allowed = name == "localhost"
    if not allowed:
        raise OSError(f"fetcher tests may only resolve loopback, not {name}")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def loopback_names_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _loopback_names_only)


@pytest.fixture(scope="session")
def upstream_server() -> Iterator[HTTPServer]:
    # Threaded, so a handler that sleeps (timeouts) or waits does not stall
    # the requests of other packages fetched at the same time.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def upstream(upstream_server: HTTPServer) -> Iterator[HTTPServer]:
    upstream_server.clear()
    yield upstream_server
    upstream_server.clear()


@pytest.fixture
def fetch_settings(settings: Settings, upstream: HTTPServer) -> Settings:
    return settings.model_copy(
        update={
            "github_api_url": base_url(upstream),
            "gitlab_api_url": f"{base_url(upstream)}/api/v4",
            "bitbucket_api_url": f"{base_url(upstream)}/2.0",
            "codeberg_api_url": f"{base_url(upstream)}/api/v1",
            "pypi_url": base_url(upstream),
            "fetch_rate_limit_max_wait": 0.5,
        }
    )


@pytest.fixture
async def http_client(fetch_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with create_http_client(fetch_settings) as client:
        yield client


@pytest.fixture
async def category(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await make_category(sessionmaker)
