"""Hearing every change to the catalogue, whichever process made it.

Several API processes and refresh workers share one database; each API
process keeps answers in memory (`app.api.response_cache`) and must drop
them as soon as anything they were made of changes. Triggers on every
catalogue table (migration 0008) make each committed change heard:

- PostgreSQL: a statement trigger calls `pg_notify('catalogue_changed')`.
  A notification is delivered when its transaction commits, to every
  connection that LISTENs; each process keeps one such connection.
- SQLite: a row trigger adds one to `catalogue_changes.counter`, which each
  process reads every CHANGE_POLL_SECONDS.

While the connection is lost, or the count cannot be read, nothing can be
heard, so `Freshness.deaf()` stops the cache until it can again.
"""

import asyncio
import contextlib

import asyncpg
import structlog
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api.response_cache import Freshness

log = structlog.get_logger("app.changes")

CHANNEL = "catalogue_changed"
# How often a PostgreSQL listener proves its connection still works.
_KEEPALIVE_SECONDS = 1.0
_RECONNECT_SECONDS = 1.0


async def watch_changes(
    engine: AsyncEngine,
    database_url: str,
    freshness: Freshness,
    poll_seconds: float,
    stop: asyncio.Event,
) -> None:
    """Keep `freshness` told of every change until `stop` is set."""
    if engine.dialect.name == "postgresql":
        await _listen(database_url, freshness, stop)
    else:
        await _poll(engine, freshness, poll_seconds, stop)


async def _listen(database_url: str, freshness: Freshness, stop: asyncio.Event) -> None:
    dsn = make_url(database_url).set(drivername="postgresql")
    while not stop.is_set():
        connection: asyncpg.Connection | None = None
        try:
            connection = await asyncpg.connect(
                dsn.render_as_string(hide_password=False),
                timeout=_KEEPALIVE_SECONDS * 5,
            )
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _c, gone=lost: gone.set())
            await connection.add_listener(CHANNEL, lambda *_: freshness.changed())
            freshness.heard()
            log.info("changes.listening")
            while not (stop.is_set() or lost.is_set()):
                await asyncio.wait_for(
                    connection.fetchval("SELECT 1"), timeout=_KEEPALIVE_SECONDS * 2
                )
                await _sleep(stop, _KEEPALIVE_SECONDS)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pass
        finally:
            if freshness.watching:
                freshness.deaf()
                if not stop.is_set():
                    log.warning("changes.deaf", reason="listener connection lost")
            if connection is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), timeout=1)
        await _sleep(stop, _RECONNECT_SECONDS)


async def _poll(
    engine: AsyncEngine, freshness: Freshness, every: float, stop: asyncio.Event
) -> None:
    last: int | None = None
    while not stop.is_set():
        try:
            async with engine.connect() as connection:
                count = await connection.scalar(
                    text("SELECT counter FROM catalogue_changes")
                )
        except (OSError, SQLAlchemyError):
            if freshness.watching:
                freshness.deaf()
                log.warning("changes.deaf", reason="change count unreadable")
            last = None
        else:
            if last is None:
                freshness.heard()
            elif count != last:
                freshness.changed()
            last = count
        await _sleep(stop, every)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
