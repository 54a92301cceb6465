"""Fixtures for the HTTP API: tokens of each scope, an app with other settings, SQL counts."""

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth.tokens import create_token
from app.config import Settings
from app.main import create_app

ClientFactory = Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]


async def bearer(
    sessionmaker: async_sessionmaker[AsyncSession], name: str, *scopes: str
) -> dict[str, str]:
    """The Authorization header of a new token named `name` with `scopes`."""
    async with sessionmaker() as session:
        secret = await create_token(session, name, list(scopes) or None)
        await session.commit()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
async def token(sessionmaker: async_sessionmaker[AsyncSession]) -> str:
    """A `write` token: edits, additions, fetches; not removals."""
    async with sessionmaker() as session:
        secret = await create_token(session, "tests")
        await session.commit()
    return secret


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def admin_auth(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """An `admin` token: removals too."""
    return await bearer(sessionmaker, "admin", "admin")


@pytest.fixture
async def read_auth(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """A `read` token: only what any valid token may read."""
    return await bearer(sessionmaker, "reader", "read")


@pytest.fixture
def client_with(settings: Settings, engine: AsyncEngine) -> ClientFactory:
    """A client for an app with some settings changed, seen from `client_host`."""

    @contextlib.asynccontextmanager
    async def open_client(
        client_host: str = "127.0.0.1", **changes: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        changed = Settings(_env_file=None, **{**settings.model_dump(), **changes})
        application = create_app(changed, engine=engine)
        transport = httpx.ASGITransport(app=application, client=(client_host, 123))
        async with (
            LifespanManager(application),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as c,
        ):
            yield c

    return open_client


class Statements:
    """The SQL statements the engine runs while `recording`, transaction control aside."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.seen: list[str] = []

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # SQLite's BEGIN goes through the cursor, asyncpg's does not; only
        # queries count.
        if statement.split()[0].upper() not in {"BEGIN", "COMMIT", "ROLLBACK"}:
            self.seen.append(statement)

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[str]]:
        self.seen = []
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._record)
        try:
            yield self.seen
        finally:
            event.remove(self.engine.sync_engine, "before_cursor_execute", self._record)


@pytest.fixture
def statements(engine: AsyncEngine) -> Statements:
    return Statements(engine)


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers as they are two seconds on: the rows a test just made have
    Last-Modified dates that have settled (app.api.caching gives none out in
    the second of a change; test_caching.py checks that with the real clock)."""
    from app.api import caching

    now = caching.utcnow
    monkeypatch.setattr(caching, "utcnow", lambda: now() + timedelta(seconds=2))
