"""Shared fixtures: a real database per run, a clean one per test, the app.

The database is SQLite (a file in a temporary folder) unless
TEST_DATABASE_URL names a PostgreSQL database; that database is dropped and
created afresh at the start of the run, then migrated with Alembic. After
each test every table is emptied, so tests see real commits and real
constraints and still start from nothing.
"""

import ipaddress
import logging
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import delete, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.base import Base
from app.db.engine import create_engine, create_sessionmaker
from app.db.migrate import upgrade
from app.main import create_app
from app.models import catalogue_deletions

# Nothing in the tests may reach past this machine; upstreams are stand-ins
# on loopback. Port 9 (discard) on loopback refuses at once if ever used.
NOWHERE = "http://127.0.0.1:9"

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise OSError(f"tests may only connect to loopback, not {host}")
    return _real_connect(self, address)


@pytest.fixture(scope="session", autouse=True)
def loopback_only() -> Iterator[None]:
    socket.socket.connect = _loopback_only  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


async def _recreate_postgres_database(url: str) -> None:
    database = make_url(url).database
    admin = create_engine(
        make_url(url).set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    async with admin.connect() as connection:
        await connection.execute(
            text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        )
        await connection.execute(text(f'CREATE DATABASE "{database}"'))
    await admin.dispose()


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    if database_url.startswith("postgresql"):
        try:
            await _recreate_postgres_database(database_url)
        except OSError as exc:
            pytest.exit(f"cannot reach PostgreSQL for TEST_DATABASE_URL: {exc}", 1)
    engine = create_engine(database_url)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture(autouse=True)
async def clean_database(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "engine" not in request.fixturenames:
        return
    engine: AsyncEngine = request.getfixturevalue("engine")
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table is catalogue_deletions:
                continue  # one row per table, made by the migration
            await connection.execute(delete(table))
        await connection.execute(update(catalogue_deletions).values(deleted_at=None))
        if connection.dialect.name == "sqlite":
            # Ids are never reused (AUTOINCREMENT); start each test afresh.
            await connection.execute(text("DELETE FROM sqlite_sequence"))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        github_api_url=NOWHERE,
        gitlab_api_url=NOWHERE,
        bitbucket_api_url=NOWHERE,
        codeberg_api_url=NOWHERE,
        pypi_url=NOWHERE,
        github_token=None,
        fetch_enabled=False,
        load_sample_data=False,
        fetch_retry_delay=0.01,
        fetch_stats_delay=0.01,
        fetch_timeout=2.0,
        # Tests see every request reach the database; the response cache has
        # its own tests (tests/api/test_response_cache.py).
        response_cache_mb=0,
    )


@pytest.fixture
async def app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    application = create_app(settings, engine=engine)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver"
    ) as c:
        yield c


@pytest.fixture
def data_dir() -> Path:
    return Path(__file__).parent / "data"


@pytest.fixture
def keep_logging_config() -> Iterator[None]:
    """Logging as it was before the test: the CLI and some tests configure
    structlog and the root logger onto streams of their own."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**saved)
    root.handlers, root.level = handlers, level
