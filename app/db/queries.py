"""Small queries every resource needs."""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


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
