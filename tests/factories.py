"""Plain async factories for catalogue rows. Each commits what it makes."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import (
    Category,
    FetchState,
    Grid,
    GridCell,
    GridFeature,
    Package,
    grid_packages,
)
from app.packages.repo_url import repo_key

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


async def make_category(
    sessionmaker: async_sessionmaker[AsyncSession], **values: Any
) -> Category:
    values.setdefault("id", 1)
    values.setdefault("title", "App")
    values.setdefault("slug", "apps")
    values.setdefault("title_plural", "Apps")
    values.setdefault("created", EPOCH)
    values.setdefault("modified", EPOCH)
    category = Category(**values)
    async with sessionmaker() as session:
        session.add(category)
        await session.commit()
    return category


async def make_package(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    grid_ids: tuple[int, ...] = (),
    **values: Any,
) -> Package:
    values.setdefault("title", f"Package {values.get('id', '')}".strip())
    values.setdefault("slug", f"package-{values.get('id', 'x')}")
    values.setdefault("category_id", 1)
    values.setdefault("created", EPOCH)
    values.setdefault("modified", EPOCH)
    values.setdefault("repo_key", repo_key(values.get("repo_url", "")))
    package = Package(**values)
    async with sessionmaker() as session:
        session.add(package)
        await session.flush()
        if grid_ids:
            await session.execute(
                insert(grid_packages),
                [{"grid_id": g, "package_id": package.id} for g in grid_ids],
            )
        await session.commit()
    return package


async def make_grid(
    sessionmaker: async_sessionmaker[AsyncSession], **values: Any
) -> Grid:
    values.setdefault("title", f"Grid {values.get('id', '')}".strip())
    values.setdefault("slug", f"grid-{values.get('id', 'x')}")
    values.setdefault("created", EPOCH)
    values.setdefault("modified", EPOCH)
    grid = Grid(**values)
    async with sessionmaker() as session:
        session.add(grid)
        await session.commit()
    return grid


async def make_fetch_state(
    sessionmaker: async_sessionmaker[AsyncSession], **values: Any
) -> FetchState:
    values.setdefault("source", "repo")
    state = FetchState(**values)
    async with sessionmaker() as session:
        session.add(state)
        await session.commit()
    return state


async def make_feature(
    sessionmaker: async_sessionmaker[AsyncSession], **values: Any
) -> GridFeature:
    values.setdefault("title", f"Feature {values.get('id', '')}".strip())
    values.setdefault("order", 0)
    values.setdefault("created", EPOCH)
    values.setdefault("modified", EPOCH)
    feature = GridFeature(**values)
    async with sessionmaker() as session:
        session.add(feature)
        await session.commit()
    return feature


async def make_cells(
    sessionmaker: async_sessionmaker[AsyncSession],
    grid_id: int,
    cells: dict[tuple[int, int], str],
) -> None:
    """Cells of one grid, as {(feature_id, package_id): text}."""
    async with sessionmaker() as session:
        await session.execute(
            insert(GridCell),
            [
                {"grid_id": grid_id, "feature_id": f, "package_id": p, "text": text}
                for (f, p), text in cells.items()
            ],
        )
        await session.commit()


async def sync_ids(sessionmaker: async_sessionmaker[AsyncSession], table: str) -> None:
    """Make the next id `table` hands out one past its highest, as on SQLite.

    PostgreSQL's sequences neither see ids inserted explicitly nor restart
    when the tables are emptied between tests.
    """
    async with sessionmaker() as session:
        if session.get_bind().dialect.name != "postgresql":
            return
        await session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 1), "
                f"(SELECT MAX(id) FROM {table}) IS NOT NULL)"
            )
        )
        await session.commit()
