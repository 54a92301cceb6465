"""Queries on grids and their matrices. Functions flush at most; the caller commits."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.lookup import id_or_slug
from app.db.queries import insert_missing
from app.models import Grid, GridCell, GridFeature, Package, grid_packages


async def find_grid(
    session: AsyncSession, segment: str, *, for_update: bool = False
) -> Grid | None:
    """The grid `segment` names; `for_update` locks its row until commit."""
    clause = id_or_slug(Grid, segment)
    if clause is None:
        return None
    query = select(Grid).where(clause)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def first_locked(session: AsyncSession, grid_ids: Iterable[int]) -> Grid | None:
    """The lowest-id locked grid among `grid_ids`, if any."""
    ids = set(grid_ids)
    if not ids:
        return None
    return await session.scalar(
        select(Grid)
        .where(Grid.id.in_(ids), Grid.is_locked.is_(True))
        .order_by(Grid.id)
        .limit(1)
    )


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


# -- the matrix ------------------------------------------------------------------


async def features_of(session: AsyncSession, grid_id: int) -> Sequence[GridFeature]:
    """The grid's rows, in the order they are shown."""
    rows = await session.scalars(
        select(GridFeature)
        .where(GridFeature.grid_id == grid_id)
        .order_by(GridFeature.order, GridFeature.id)
    )
    return rows.all()


class MatrixColumn(NamedTuple):
    """A package as a matrix shows it."""

    id: int
    title: str
    slug: str
    repo_url: str
    repo_watchers: int
    repo_forks: int
    last_updated: datetime | None
    pypi_version: str
    score: int


async def matrix_packages(session: AsyncSession, grid_id: int) -> list[MatrixColumn]:
    """The grid's packages with the stats a matrix shows, best score first."""
    rows = await session.execute(
        select(*(getattr(Package, name) for name in MatrixColumn._fields))
        .join(grid_packages, grid_packages.c.package_id == Package.id)
        .where(grid_packages.c.grid_id == grid_id)
        .order_by(Package.score.desc(), Package.id)
    )
    return [MatrixColumn(*row) for row in rows]


async def cells_of(session: AsyncSession, grid_id: int) -> list[tuple[int, int, str]]:
    """Every cell of the grid as (feature_id, package_id, text), unordered."""
    rows = await session.execute(
        select(GridCell.feature_id, GridCell.package_id, GridCell.text).where(
            GridCell.grid_id == grid_id
        )
    )
    # Rows are tuples in all but name; a copy of each would cost more than
    # the query on a large grid.
    return cast(list[tuple[int, int, str]], rows.all())


async def find_feature(
    session: AsyncSession, grid_id: int, feature_id: int, *, refresh: bool = False
) -> GridFeature | None:
    """The grid's feature `feature_id`; `refresh` reads it again after an edit."""
    query = select(GridFeature).where(
        GridFeature.grid_id == grid_id, GridFeature.id == feature_id
    )
    if refresh:
        query = query.execution_options(populate_existing=True)
    return await session.scalar(query)


async def feature_titled(
    session: AsyncSession, grid_id: int, title: str, *, other_than: int | None = None
) -> int | None:
    """The id of the grid's feature called `title`, except `other_than`."""
    query = select(GridFeature.id).where(
        GridFeature.grid_id == grid_id, GridFeature.title == title
    )
    if other_than is not None:
        query = query.where(GridFeature.id != other_than)
    return await session.scalar(query.limit(1))


async def highest_order(session: AsyncSession, grid_id: int) -> int | None:
    """The order of the grid's last row; None when the grid has no row."""
    return await session.scalar(
        select(func.max(GridFeature.order)).where(GridFeature.grid_id == grid_id)
    )


async def add_feature(session: AsyncSession, feature: GridFeature) -> GridFeature:
    session.add(feature)
    await session.flush()
    return feature


async def update_feature(
    session: AsyncSession, feature_id: int, values: dict[str, Any]
) -> None:
    await session.execute(
        update(GridFeature).where(GridFeature.id == feature_id).values(**values)
    )


async def remove_feature(session: AsyncSession, feature_id: int) -> None:
    await session.execute(delete(GridFeature).where(GridFeature.id == feature_id))


async def is_member(session: AsyncSession, grid_id: int, package_id: int) -> bool:
    found = await session.scalar(
        select(grid_packages.c.package_id).where(
            grid_packages.c.grid_id == grid_id,
            grid_packages.c.package_id == package_id,
        )
    )
    return found is not None


async def add_member(session: AsyncSession, grid_id: int, package_id: int) -> None:
    await insert_missing(
        session,
        grid_packages,
        [{"grid_id": grid_id, "package_id": package_id}],
        [grid_packages.c.grid_id, grid_packages.c.package_id],
    )


async def remove_member(session: AsyncSession, grid_id: int, package_id: int) -> None:
    """Take the package out of the grid; its cells go with it (foreign key)."""
    await session.execute(
        delete(grid_packages).where(
            grid_packages.c.grid_id == grid_id,
            grid_packages.c.package_id == package_id,
        )
    )


async def cell_text(
    session: AsyncSession, feature_id: int, package_id: int
) -> str | None:
    """The cell's text, or None when it has none."""
    return await session.scalar(
        select(GridCell.text).where(
            GridCell.feature_id == feature_id, GridCell.package_id == package_id
        )
    )


async def insert_cell(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(GridCell), [values])


async def update_cell(
    session: AsyncSession, feature_id: int, package_id: int, text: str
) -> None:
    await session.execute(
        update(GridCell)
        .where(GridCell.feature_id == feature_id, GridCell.package_id == package_id)
        .values(text=text)
    )


async def remove_cell(session: AsyncSession, feature_id: int, package_id: int) -> None:
    await session.execute(
        delete(GridCell).where(
            GridCell.feature_id == feature_id, GridCell.package_id == package_id
        )
    )


async def touch(session: AsyncSession, grid_id: int, when: datetime) -> None:
    """Record that the grid's matrix changed."""
    await touch_all(session, [grid_id], when)


async def touch_all(
    session: AsyncSession, grid_ids: Iterable[int], when: datetime
) -> None:
    ids = set(grid_ids)
    if ids:
        await session.execute(
            update(Grid).where(Grid.id.in_(ids)).values(modified=when)
        )
