"""Migration 0004 builds the search index from the packages already stored."""

import httpx
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import WRITES
from app.db.migrate import alembic_config, upgrade
from tests.factories import EPOCH


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    def _downgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with engine.connect() as connection:
        connection = await connection.execution_options(**{WRITES: True})
        async with connection.begin():
            await connection.run_sync(_downgrade)


async def test_packages_stored_before_the_migration_are_found(
    engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    await downgrade(engine, "0005")
    try:
        # Written with the columns 0003 has, as a database of then held them.
        async with engine.begin() as connection:
            at = (
                EPOCH
                if engine.dialect.name == "postgresql"
                else EPOCH.replace(tzinfo=None)
            )
            await connection.execute(
                text(
                    "INSERT INTO categories (id, title, slug, description, "
                    "title_plural, show_pypi, created, modified) VALUES "
                    "(1, 'Birds', 'birds', '', '', true, :at, :at)"
                ),
                {"at": at},
            )
            await connection.execute(
                text(
                    "INSERT INTO packages (id, title, slug, category_id, repo_url, "
                    "pypi_url, documentation_url, repo_watchers, repo_forks, "
                    "repo_description, repo_archived, pypi_version, participants, "
                    "commits_over_52, last_exception_count, score, created, modified) "
                    "VALUES (1, 'django-penguin', 'django-penguin', 1, '', '', '', "
                    "0, 0, 'Flightless', false, '', :participants, '[]', 0, 0, :at, :at)"
                ),
                {"participants": '["emperor"]', "at": at},
            )
    finally:
        await upgrade(engine)

    found = [
        [item["slug"] for item in (await client.get(f"/api/v4/search/?q={q}")).json()]
        for q in ("penguin", "flightless", "birds", "emperor", "pengiun")
    ]
    assert found == [["django-penguin"]] * 5
