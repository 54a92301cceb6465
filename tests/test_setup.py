"""Several processes setting up one new database at once (replicas, workers)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from app.cli import load_sample_if_empty
from app.db.engine import create_engine, create_sessionmaker
from app.db.migrate import is_at_head, upgrade
from app.models import Package


@pytest.fixture
async def fresh_database_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database of its own, empty, dropped afterwards."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    name = f"packages_api_setup_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        make_url(database_url).set(database="postgres").render_as_string(False),
        isolation_level="AUTOCOMMIT",
    )
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(database_url).set(database=name).render_as_string(False)
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    await admin.dispose()


async def test_processes_starting_together_migrate_and_load_the_sample_once(
    fresh_database_url: str,
) -> None:
    engines = [create_engine(fresh_database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(engine) for engine in engines))
        loaded = await asyncio.gather(
            *(load_sample_if_empty(create_sessionmaker(engine)) for engine in engines)
        )

        assert [await is_at_head(engine) for engine in engines] == [True] * 3
        assert sorted(loaded) == [False, False, True]
        async with create_sessionmaker(engines[0])() as session:
            count = await session.scalar(select(func.count()).select_from(Package))
        assert count == 10
    finally:
        for engine in engines:
            await engine.dispose()
