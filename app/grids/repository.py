"""Queries on grids."""

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.lookup import id_or_slug
from app.models import Grid, grid_packages


async def find_grid(session: AsyncSession, segment: str) -> Grid | None:
    clause = id_or_slug(Grid, segment)
    if clause is None:
        return None
    return await session.scalar(select(Grid).where(clause))


async def list_page(session: AsyncSession, limit: int, offset: int) -> Sequence[Grid]:
    """One page, newest id first; the count comes with the table's state."""
    rows = await session.scalars(
        select(Grid).order_by(Grid.id.desc()).limit(limit).offset(offset)
    )
    return rows.all()


async def package_ids_by_grid(
    session: AsyncSession, grid_ids: Iterable[int]
) -> dict[int, list[int]]:
    """Each grid's package ids, in ascending order, in one query."""
    ids = list(grid_ids)
    result: dict[int, list[int]] = {grid_id: [] for grid_id in ids}
    if not ids:
        return result
    rows = await session.execute(
        select(grid_packages.c.grid_id, grid_packages.c.package_id)
        .where(grid_packages.c.grid_id.in_(ids))
        .order_by(grid_packages.c.package_id)
    )
    for grid_id, package_id in rows:
        result[grid_id].append(package_id)
    return result
