"""Run Alembic migrations from inside the service.

Migrations are the only thing that creates or changes the schema; this
module lets `migrate`, `serve` and the tests apply them on an open engine.
"""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.engine import WRITES

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config() -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return config


# Any number: every process of this service asks for the same one.
SETUP_LOCK = 7_202_604


async def hold_setup_lock(connection: AsyncConnection) -> None:
    """On PostgreSQL, wait until no other process is setting the database up.

    Replicas and workers started together would otherwise all migrate (or
    load the sample) at once and trip over each other. The lock ends with
    the transaction. SQLite has one writer at a time anyway.
    """
    if connection.dialect.name == "postgresql":
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": SETUP_LOCK}
        )


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    def _upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.connect() as connection:
        connection = await connection.execution_options(**{WRITES: True})
        async with connection.begin():
            await hold_setup_lock(connection)
            await connection.run_sync(_upgrade)


async def is_at_head(engine: AsyncEngine) -> bool:
    """True when the database's schema is at the newest migration."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()

    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        current = await connection.run_sync(_current)
    return current == head
