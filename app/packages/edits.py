"""The edit log of packages: written with each edit, read per package.

Every edit made over HTTP adds one row in the edit's own transaction (see
app/models/edit.py): the log has a row exactly when the edit committed.
Stats a refresh fetches are not edits and are not logged.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.models import ApiToken, Package, PackageEdit
from app.models.edit import CREATED, EDITED

# The fields an edit can change, in the API's names, and their columns.
EDITABLE = {
    "title": "title",
    "slug": "slug",
    "category": "category_id",
    "repo_url": "repo_url",
    "pypi_url": "pypi_url",
    "documentation_url": "documentation_url",
}
GRIDS = "grids"


def state(package: Package, grid_ids: Sequence[int]) -> dict[str, Any]:
    """The package's editable fields, as the log shows them."""
    values: dict[str, Any] = {
        field: getattr(package, column) for field, column in EDITABLE.items()
    }
    values[GRIDS] = sorted(grid_ids)
    return values


def change(field: str, old: Any, new: Any) -> dict[str, Any]:
    return {"field": field, "old": old, "new": new}


def column_changes(package: Package, values: dict[str, Any]) -> list[dict[str, Any]]:
    """What writing `values` (columns) over `package` changes, field by field."""
    return [
        change(field, getattr(package, column), values[column])
        for field, column in EDITABLE.items()
        if column in values and getattr(package, column) != values[column]
    ]


async def record(
    session: AsyncSession,
    package_id: int,
    token: ApiToken,
    action: str,
    changes: list[dict[str, Any]],
) -> None:
    """Add the edit to the log; it commits, or not, with the edit."""
    await session.execute(
        insert(PackageEdit).values(
            package_id=package_id,
            token_id=token.id,
            token_name=token.name,
            at=utcnow(),
            action=action,
            changes=changes,
        )
    )


async def record_whole(
    session: AsyncSession,
    package: Package,
    grid_ids: Sequence[int],
    token: ApiToken,
    action: str,
) -> None:
    """Log a package made (CREATED) or removed (DELETED): every field it
    has, from nothing or to nothing."""
    fields = state(package, grid_ids).items()
    if action == CREATED:
        changes = [change(field, None, value) for field, value in fields]
    else:
        changes = [change(field, value, None) for field, value in fields]
    await record(session, package.id, token, action, changes)


async def record_edited(
    session: AsyncSession,
    package_id: int,
    token: ApiToken,
    changes: list[dict[str, Any]],
) -> None:
    if changes:
        await record(session, package_id, token, EDITED, changes)


async def page(
    session: AsyncSession, package_id: int, limit: int, offset: int
) -> tuple[int, Sequence[PackageEdit]]:
    """How many edits the package has, and one page of them, newest first."""
    where = PackageEdit.package_id == package_id
    count = await session.scalar(
        select(func.count()).select_from(PackageEdit).where(where)
    )
    rows = await session.scalars(
        select(PackageEdit)
        .where(where)
        .order_by(PackageEdit.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return count or 0, rows.all()
