"""Migration 0004's triggers: every change of a row is a new version.

Run on their own database file, so the round trip down to 0003 and back
touches no other test's schema.
"""

from pathlib import Path

from alembic import command
from sqlalchemy import Connection, insert, select, text, update

from app.db.engine import create_engine
from app.db.migrate import alembic_config, upgrade
from app.models import Category, Grid, Package, catalogue_deletions, grid_packages
from tests.factories import EPOCH


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def test_versions_count_every_change_and_the_migration_goes_down_and_up(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'versions.db'}")
    await upgrade(engine)
    async with engine.begin() as db:
        await db.execute(insert(Category).values(id=1, title="A", slug="a"))
        await db.execute(insert(Grid).values(id=7, title="G", slug="g"))
        await db.execute(
            insert(Package).values(
                id=1, title="P", slug="p", category_id=1, changed_at=EPOCH
            )
        )
        await db.execute(update(Package).where(Package.id == 1).values(repo_watchers=5))
        await db.execute(insert(grid_packages).values(grid_id=7, package_id=1))
        package = (await db.execute(select(Package.version, Package.changed_at))).one()
        await db.execute(text("DELETE FROM packages WHERE id = 1"))
        versions = {
            "grid": await db.scalar(select(Grid.version)),
            "category": await db.scalar(select(Category.version)),
        }
        deleted = {
            name: at for name, at in await db.execute(select(catalogue_deletions))
        }

    async with engine.begin() as db:
        await db.run_sync(_downgrade, "0003")
    async with engine.connect() as db:
        triggers = await db.scalar(
            text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
        )
    await upgrade(engine)
    await engine.dispose()

    # Made (1), updated (2), put in a grid (3), each time at a new moment.
    assert package.version == 3
    assert package.changed_at > EPOCH
    # The grid gained a member (2) and lost it when the package went (3).
    assert versions == {"grid": 3, "category": 1}
    assert deleted["categories"] is None and deleted["grids"] is None
    assert deleted["packages"] is not None
    assert triggers == 0
