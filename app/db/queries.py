"""Small queries every resource needs."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import catalogue_deletions


async def existing_ids(
    session: AsyncSession, model: Any, ids: Iterable[int]
) -> set[int]:
    """Which of `ids` exist as rows of `model`."""
    wanted = set(ids)
    if not wanted:
        return set()
    rows = await session.scalars(select(model.id).where(model.id.in_(wanted)))
    return set(rows)


async def insert_missing(
    session: AsyncSession, table: Any, rows: list[dict[str, Any]], key: list[Any]
) -> None:
    """Insert `rows`, skipping those whose `key` columns are already taken.

    Concurrent writers may insert the same rows; neither fails.
    """
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    await session.execute(
        dialect.insert(table).on_conflict_do_nothing(index_elements=key), rows
    )


@dataclass(frozen=True, slots=True)
class TableState:
    """What changes whenever any row of a table changes, appears or goes."""

    count: int
    version_sum: int
    max_id: int
    changed_at: datetime | None
    deleted_at: datetime | None

    @property
    def last_modified(self) -> datetime | None:
        moments = [m for m in (self.changed_at, self.deleted_at) if m is not None]
        return max(moments) if moments else None


async def table_state(session: AsyncSession, model: Any) -> TableState:
    """The state of `model`'s whole table, in one aggregate query.

    Each update raises the sum of versions, each insert or delete changes
    the count, and a delete stamps `catalogue_deletions`; so a list's
    validators move on any change of the table.
    """
    deleted_at = (
        select(catalogue_deletions.c.deleted_at)
        .where(catalogue_deletions.c.table_name == model.__tablename__)
        .scalar_subquery()
    )
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(model.version), 0),
                func.coalesce(func.max(model.id), 0),
                func.max(model.changed_at),
                deleted_at,
            ).select_from(model)
        )
    ).one()
    return TableState(int(row[0]), int(row[1]), int(row[2]), row[3], row[4])
