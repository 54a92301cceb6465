"""Queries on categories."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.lookup import MAX_ID
from app.models import Category


async def find_category(session: AsyncSession, segment: str) -> Category | None:
    """Categories are addressed by id only, as in Django Packages v4."""
    if not (segment.isascii() and segment.isdigit()) or not 0 < int(segment) <= MAX_ID:
        return None
    return await session.get(Category, int(segment))


async def list_page(
    session: AsyncSession, limit: int, offset: int
) -> Sequence[Category]:
    """One page, newest id first; the count comes with the table's state."""
    rows = await session.scalars(
        select(Category).order_by(Category.id.desc()).limit(limit).offset(offset)
    )
    return rows.all()
