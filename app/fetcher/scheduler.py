"""The background refresh: fetch due packages in batches until cancelled."""

import asyncio

import httpx
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.fetcher.refresh import refresh_due

log = structlog.get_logger(__name__)


async def refresh_forever(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
) -> None:
    """Refresh due packages, a batch at a time, until the task is cancelled.

    After a full batch the next one starts at once, so a backlog drains;
    otherwise the loop sleeps fetch_poll_seconds. No error ends the loop.
    """
    log.info("fetch.scheduler_started", batch_size=settings.fetch_batch_size)
    while True:
        full_batch = False
        try:
            summary = await refresh_due(settings, sessionmaker, http_client)
        except SQLAlchemyError as exc:
            log.warning("fetch.round_failed", error=type(exc).__name__)
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
        if not full_batch:
            await asyncio.sleep(settings.fetch_poll_seconds)
