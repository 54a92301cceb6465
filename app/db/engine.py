"""Engine and session factory for one process.

The request or job that opens a session owns its transaction: repositories
only flush, the edge commits. Sessions keep loaded values after commit so a
response can be built from them without touching the database again.
"""

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

WRITES = "packages_api_writes"


async def writing(session: AsyncSession) -> None:
    """Declare, before its first statement, that `session`'s transaction writes.

    On SQLite it then starts with the write lock held (BEGIN IMMEDIATE), so a
    read-then-write unit of work waits for other writers instead of failing;
    PostgreSQL needs nothing.
    """
    await session.connection(execution_options={WRITES: True})


async def snapshot(session: AsyncSession) -> None:
    """Declare, before its first statement, that `session`'s reads must agree.

    Several queries that answer one request then see the database as it was
    at the first of them. PostgreSQL needs REPEATABLE READ for that; a
    SQLite read transaction already sees one snapshot.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.connection(
            execution_options={"isolation_level": "REPEATABLE READ"}
        )


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        return _create_sqlite_engine(database_url, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(database_url, **kwargs)


def _create_sqlite_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("timeout", 30)
    engine = create_async_engine(database_url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own transaction handling breaks SAVEPOINT and hides
        # BEGIN; take over so SQLAlchemy's transactions are real ones.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL syncs at checkpoints, not at every commit: a
        # crash of the process loses nothing, a power cut may lose the last
        # commits but never corrupts the file.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Each connection keeps its own page cache (2 MiB by default) and the
        # pool holds several: a smaller one keeps a process's memory flat as
        # the catalogue grows, and the operating system caches the file for
        # all of them anyway.
        cursor.execute("PRAGMA cache_size=-512")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A transaction that reads before it writes cannot take the write
        # lock once another writer has committed since its read; those that
        # will write say so up front (see `writing`) and queue for the lock.
        immediate = connection.get_execution_options().get(WRITES, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
