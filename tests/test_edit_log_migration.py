"""Migration 0007 (the edit log) goes down and up again on the test database."""

import httpx
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db.migrate import upgrade
from tests.api.conftest import bearer
from tests.factories import make_category, make_package
from tests.search.test_index_migration import downgrade


async def tables_and_indexes(engine: AsyncEngine) -> tuple[set[str], set[str]]:
    async with engine.connect() as connection:

        def look(sync: object) -> tuple[set[str], set[str]]:
            inspector = inspect(sync)
            tables = set(inspector.get_table_names())
            indexes = (
                {index["name"] for index in inspector.get_indexes("package_edits")}
                if "package_edits" in tables
                else set()
            )
            return tables, indexes

        return await connection.run_sync(look)


async def test_the_edit_log_migration_goes_down_and_up(
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await make_category(sessionmaker)
    await make_package(sessionmaker, id=1, slug="tool")
    auth = await bearer(sessionmaker, "editor", "write")
    edited = await client.patch(
        "/api/v4/packages/1/", headers=auth, json={"title": "A"}
    )
    assert edited.status_code == 200

    await downgrade(engine, "0006")
    try:
        down = await tables_and_indexes(engine)
    finally:
        await upgrade(engine)
    up = await tables_and_indexes(engine)
    # The log starts empty again, and takes edits.
    again = await client.patch("/api/v4/packages/1/", headers=auth, json={"title": "B"})
    log = (await client.get("/api/v4/packages/1/edits/", headers=auth)).json()

    assert "package_edits" not in down[0]
    assert "api_tokens" in down[0] and "packages" in down[0]
    assert "package_edits" in up[0]
    assert "ix_package_edits_package_id_id" in up[1]
    assert again.status_code == 200
    assert [entry["changes"] for entry in log["results"]] == [
        [{"field": "title", "old": "A", "new": "B"}]
    ]
