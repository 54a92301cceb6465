"""/healthz says the process lives; /readyz that the database is there and current."""

from collections.abc import AsyncIterator

import httpx
import pytest
from alembic.script import ScriptDirectory
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db.engine import create_engine
from app.db.migrate import alembic_config
from app.main import create_app


async def test_healthz_answers_while_the_process_lives(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ok_when_the_schema_is_at_the_newest_migration(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.fixture
async def schema_behind(engine: AsyncEngine) -> AsyncIterator[str]:
    """The database recorded as one migration behind the newest, then put back."""
    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    assert head is not None
    previous = scripts.get_revision(head).down_revision
    assert isinstance(previous, str)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE alembic_version SET version_num = :v"), {"v": previous}
        )
    try:
        yield previous
    finally:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE alembic_version SET version_num = :v"), {"v": head}
            )


@pytest.mark.usefixtures("schema_behind")
async def test_readyz_fails_when_the_schema_is_behind(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/readyz")
    health = await client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["detail"] == (
        "The database schema is not at the newest migration."
    )
    assert response.headers["retry-after"] == "5"
    assert health.status_code == 200


async def test_readyz_fails_when_the_database_does_not_answer(
    settings: Settings,
) -> None:
    # Port 9 on loopback refuses at once: a database that is down.
    unreachable = create_engine("postgresql+asyncpg://postgres@127.0.0.1:9/packages")
    application = create_app(settings, engine=unreachable)
    transport = httpx.ASGITransport(app=application)
    try:
        async with (
            LifespanManager(application),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as c,
        ):
            ready = await c.get("/readyz")
            health = await c.get("/healthz")
    finally:
        await unreachable.dispose()

    assert ready.status_code == 503
    assert ready.json()["detail"] == "The database does not answer."
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
