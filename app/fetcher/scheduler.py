"""The background refresh: lease due packages in batches until told to stop.

`serve` runs it inside the API process (unless FETCH_ENABLED is false) and
`packages-api worker` runs it alone. Several of them may share one
PostgreSQL database: each claims its own batches under its own name.
"""

import asyncio
import contextlib
import os
import socket
import uuid

import httpx
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.fetcher.refresh import RefreshSummary, refresh_due

log = structlog.get_logger(__name__)


def refresher_name() -> str:
    """A name no other refresher has: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def refresh_forever(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    *,
    stop: asyncio.Event | None = None,
    wake: asyncio.Event | None = None,
) -> None:
    """Refresh due packages, a batch at a time, until `stop` is set or cancelled.

    After a full batch the next one starts at once, so a backlog drains;
    otherwise the loop sleeps fetch_poll_seconds, or until `wake` is set (a
    refresh was asked for in this process). No error ends the loop. On
    `stop`, fetches in flight get fetch_shutdown_grace seconds to finish;
    what is still unfinished then is given back for others to take.
    """
    stop = stop or asyncio.Event()
    wake = wake or asyncio.Event()
    owner = refresher_name()
    log.info(
        "fetch.scheduler_started", owner=owner, batch_size=settings.fetch_batch_size
    )
    while not stop.is_set():
        wake.clear()
        batch = asyncio.create_task(
            refresh_due(settings, sessionmaker, http_client, owner=owner, stop=stop)
        )
        full_batch = False
        try:
            summary = await _until_done_or_stopped(batch, stop, settings)
        except (SQLAlchemyError, OSError) as exc:
            # The database is unreachable (refused, reset, shutting down):
            # the next round tries again.
            log.warning("fetch.round_failed", error=type(exc).__name__)
        except asyncio.CancelledError:
            if stop.is_set():
                break
            raise
        except Exception:
            log.exception("fetch.round_crashed")
        else:
            full_batch = summary.total >= settings.fetch_batch_size
            if summary.total:
                log.info(
                    "fetch.round_done",
                    updated=summary.updated,
                    unchanged=summary.unchanged,
                    failed=summary.failed,
                )
        if not full_batch and not stop.is_set():
            await _sleep(settings.fetch_poll_seconds, stop, wake)
    log.info("fetch.scheduler_stopped", owner=owner)


async def _until_done_or_stopped(
    batch: "asyncio.Task[RefreshSummary]", stop: asyncio.Event, settings: Settings
) -> RefreshSummary:
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({batch, stopping}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        batch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await batch
        raise
    finally:
        stopping.cancel()
    if not batch.done():
        done, _ = await asyncio.wait({batch}, timeout=settings.fetch_shutdown_grace)
        if not done:
            batch.cancel()
    return await batch


async def _sleep(seconds: float, *events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(
            waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for waiter in waiters:
            waiter.cancel()
