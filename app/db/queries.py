"""Small queries every resource needs."""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
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
