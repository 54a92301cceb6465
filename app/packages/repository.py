"""Queries on packages. Functions flush at most; the caller commits."""

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.lookup import id_or_slug
from app.models import Grid, Package, grid_packages
from app.packages.score import ScoreInputs, compute_score


async def find_package(
    session: AsyncSession, segment: str, *, for_update: bool = False
) -> Package | None:
    """The package `segment` names; `for_update` locks its row until commit."""
    clause = id_or_slug(Package, segment)
    if clause is None:
        return None
    query = select(Package).where(clause)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def get_by_id(session: AsyncSession, package_id: int) -> Package | None:
    return await session.get(Package, package_id, populate_existing=True)


async def list_page(
    session: AsyncSession,
    limit: int,
    offset: int,
    *,
    where: Sequence[Any] = (),
    order_by: Sequence[Any] = (Package.id.desc(),),
    total: int | None = None,
) -> tuple[int, Sequence[Package]]:
    """How many packages match `where`, and one page of them in `order_by`.

    `total`, when the caller knows it (no filter: the table's row count),
    spares the count query.
    """
    count = total
    if count is None:
        count = await session.scalar(
            select(func.count()).select_from(Package).where(*where)
        )
    # The page's ids first, from the narrow index and sort keys alone, then
    # their whole rows: sorting every wide row to skip thousands of them made
    # a deep page far dearer than the first.
    page = (
        select(Package.id)
        .where(*where)
        .order_by(*order_by)
        .limit(limit)
        .offset(offset)
        .subquery()
    )
    rows = await session.scalars(
        select(Package).join(page, Package.id == page.c.id).order_by(*order_by)
    )
    return count or 0, rows.all()


async def grid_ids_by_package(
    session: AsyncSession, package_ids: Iterable[int]
) -> dict[int, list[int]]:
    """Each package's grid ids, in ascending order, in one query."""
    ids = list(package_ids)
    result: dict[int, list[int]] = {package_id: [] for package_id in ids}
    if not ids:
        return result
    rows = await session.execute(
        select(grid_packages.c.package_id, grid_packages.c.grid_id)
        .where(grid_packages.c.package_id.in_(ids))
        .order_by(grid_packages.c.grid_id)
    )
    for package_id, grid_id in rows:
        result[package_id].append(grid_id)
    return result


async def holder_of(
    session: AsyncSession, column: Any, value: Any, *, other_than: int | None = None
) -> int | None:
    """The id of a package whose `column` equals `value`, except `other_than`."""
    query = select(Package.id).where(column == value)
    if other_than is not None:
        query = query.where(Package.id != other_than)
    return await session.scalar(query.limit(1))


async def update_columns(
    session: AsyncSession, package_id: int, values: dict[str, Any]
) -> None:
    """Write only the given columns, so concurrent writers of others survive."""
    await session.execute(
        update(Package).where(Package.id == package_id).values(**values)
    )


async def _lock_member_grids(
    session: AsyncSession, package_id: int, more: Iterable[int] = ()
) -> None:
    """Lock the package's grids (and `more`) in id order, until commit.

    A change of members bumps each grid's version (a trigger), which locks
    its row; two edits taking their grids in different orders would
    deadlock, so each takes them in one order first.
    """
    current = select(grid_packages.c.grid_id).where(
        grid_packages.c.package_id == package_id
    )
    ids = set(await session.scalars(current)) | set(more)
    if ids:
        await session.execute(
            select(Grid.id).where(Grid.id.in_(ids)).order_by(Grid.id).with_for_update()
        )


async def replace_grids(
    session: AsyncSession, package_id: int, grid_ids: Iterable[int]
) -> None:
    """Make the package's grids exactly `grid_ids`.

    Only the memberships that change are written: deleting one also deletes
    the package's cells in that grid, so the grids it stays in keep theirs.
    """
    wanted = set(grid_ids)
    await _lock_member_grids(session, package_id, wanted)
    current = set(
        await session.scalars(
            select(grid_packages.c.grid_id).where(
                grid_packages.c.package_id == package_id
            )
        )
    )
    if current - wanted:
        await session.execute(
            delete(grid_packages).where(
                grid_packages.c.package_id == package_id,
                grid_packages.c.grid_id.in_(current - wanted),
            )
        )
    rows = [
        {"grid_id": grid_id, "package_id": package_id}
        for grid_id in sorted(wanted - current)
    ]
    if rows:
        await session.execute(insert(grid_packages), rows)


async def add(session: AsyncSession, package: Package) -> Package:
    session.add(package)
    await session.flush()
    return package


async def remove(session: AsyncSession, package_id: int) -> None:
    await _lock_member_grids(session, package_id)
    await session.execute(delete(Package).where(Package.id == package_id))


_SCORE_INPUTS = (
    Package.id,
    Package.score,
    Package.repo_watchers,
    Package.last_updated,
    Package.pypi_released_at,
    Package.python3,
)


def score_inputs(row: Any) -> ScoreInputs:
    return ScoreInputs(
        stars=row.repo_watchers,
        last_commit=row.last_updated,
        last_release=row.pypi_released_at,
        python3=row.python3,
    )


async def rescore(session: AsyncSession, *package_ids: int) -> None:
    """Recompute and store the score of the given packages from their stats.

    Only scores that change are written.
    """
    now = utcnow()
    changed = []
    ids = list(package_ids)
    for start in range(0, len(ids), 500):
        rows = await session.execute(
            select(*_SCORE_INPUTS).where(Package.id.in_(ids[start : start + 500]))
        )
        for row in rows:
            total = compute_score(score_inputs(row), now).total
            if total != row.score:
                changed.append({"package_id": row.id, "new_score": total})
    if changed:
        table: Any = Package.__table__
        # A Core statement, so the list runs as one executemany.
        statement = (
            update(table)
            .where(table.c.id == bindparam("package_id"))
            .values(score=bindparam("new_score"))
        )
        await session.execute(statement, changed)


async def category_standing(
    session: AsyncSession, category_id: int, score: int
) -> tuple[int, int]:
    """How many packages the category holds, and how many score below `score`."""
    row = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(Package.score < score),
            ).where(Package.category_id == category_id)
        )
    ).one()
    return int(row[0]), int(row[1])
