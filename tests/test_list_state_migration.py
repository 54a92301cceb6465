"""Migration 0011: the package list's validators come from a covering index."""

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.migrate import upgrade
from tests.search.test_index_migration import downgrade

STATE = (
    "SELECT count(*), coalesce(sum(version), 0), coalesce(max(id), 0), "
    "max(changed_at) FROM packages"
)


async def package_indexes(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: {i["name"] for i in inspect(sync).get_indexes("packages")}
        )


async def plan(engine: AsyncEngine) -> str:
    """How the database reads the list's state, with any plan it could use."""
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # A small test table is cheaper to scan; the question is whether
            # the index can answer the query alone.
            await connection.execute(text("SET enable_seqscan = off"))
            await connection.execute(text("SET enable_bitmapscan = off"))
            rows = await connection.execute(text(f"EXPLAIN {STATE}"))
            return "\n".join(row[0] for row in rows)
        # Likewise: INDEXED BY fails unless the index can answer alone.
        forced = STATE.replace(
            "FROM packages", "FROM packages INDEXED BY ix_packages_list_state"
        )
        rows = await connection.execute(text(f"EXPLAIN QUERY PLAN {forced}"))
        return "\n".join(row[3] for row in rows)


async def test_the_list_state_is_read_from_the_index_and_the_migration_goes_down(
    engine: AsyncEngine,
) -> None:
    up = await plan(engine)
    await downgrade(engine, "0010")
    try:
        down = await package_indexes(engine)
    finally:
        await upgrade(engine)

    if engine.dialect.name == "postgresql":
        assert "Index Only Scan using ix_packages_list_state on packages" in up
    else:
        assert up == "SCAN packages USING COVERING INDEX ix_packages_list_state"
    assert "ix_packages_list_state" not in down
    assert "ix_packages_list_state" in await package_indexes(engine)
