"""Migration 0009 brings feature orders past 1,000,000 into range."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db.migrate import upgrade
from app.models import GridFeature
from tests.factories import make_feature, make_grid
from tests.search.test_index_migration import downgrade


async def test_a_grid_with_orders_past_the_range_is_numbered_afresh_in_its_order(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await downgrade(engine, "0008")
    try:
        await make_grid(sessionmaker, id=1)
        await make_grid(sessionmaker, id=2)
        # Grid 1 as the old range let it be: shown 3, 1, 4, 2, 5.
        for feature_id, order in (
            (1, 7),
            (2, 2**31 - 1),
            (3, 0),
            (4, 7),
            (5, 2**31 - 1),
        ):
            await make_feature(sessionmaker, id=feature_id, grid_id=1, order=order)
        await make_feature(sessionmaker, id=6, grid_id=2, order=1_000_000)
        await make_feature(sessionmaker, id=7, grid_id=2, order=40)
    finally:
        await upgrade(engine)

    async with sessionmaker() as session:
        rows = await session.execute(
            select(GridFeature.grid_id, GridFeature.id, GridFeature.order).order_by(
                GridFeature.id
            )
        )
        orders = [tuple(row) for row in rows]

    assert orders == [
        (1, 1, 1),
        (1, 2, 3),
        (1, 3, 0),
        (1, 4, 2),
        (1, 5, 4),
        (2, 6, 1_000_000),
        (2, 7, 40),
    ]
