"""Store refresh results a group to a transaction.

Sixteen packages finishing their fetches at about the same time used to
mean sixteen transactions queueing for SQLite's one write lock, or sixteen
commits each waiting for PostgreSQL to flush its log. A `GroupWriter` has
one task that takes whatever results are waiting (up to `size`) and writes
them in one transaction; results that arrive meanwhile wait for the next
group. A package alone is written at once.

A group whose transaction fails is written again one package per
transaction, so a bad row costs its own package only: that package's
`write` raises and the others are stored. `refusal` tells such a row's
error (the database refused a value) from the database being unavailable,
so the caller can record it as that package's failure.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import structlog
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.engine import writing

log = structlog.get_logger(__name__)

T = TypeVar("T")

Work = Callable[[AsyncSession], Awaitable[T]]


class GroupWriter(Generic[T]):
    """Runs `Work` items in shared transactions; use it as `async with`."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        size: int,
        before_commit: Callable[[AsyncSession], Awaitable[None]] | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._size = size
        # Work for the whole group at once, after its items and in the
        # same transaction (one query where each item would make its own).
        self._before_commit = before_commit
        self._queue: asyncio.Queue[tuple[Work[T], asyncio.Future[T]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "GroupWriter[T]":
        self._task = asyncio.create_task(self._drain())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        """Stop; a group being written is rolled back, as if never begun."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self._queue.empty():
            _work, future = self._queue.get_nowait()
            future.cancel()

    async def write(self, work: Work[T]) -> T:
        """Run `work` in the next group's transaction once it commits; its result."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self._queue.put((work, future))
        return await future

    async def _drain(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < self._size and not self._queue.empty():
                group.append(self._queue.get_nowait())
            # A caller that gave up (its task was cancelled) is not written.
            group = [(work, future) for work, future in group if not future.done()]
            if not group:
                continue
            try:
                await self._write_group(group)
            except asyncio.CancelledError:
                for _work, future in group:
                    future.cancel()
                raise

    async def _write_group(
        self, group: list[tuple[Work[T], asyncio.Future[T]]]
    ) -> None:
        if len(group) > 1:
            try:
                results = await self._transaction([work for work, _ in group])
            except Exception as exc:
                log.info(
                    "fetch.group_write_failed", packages=len(group), error=repr(exc)
                )
            else:
                for (_work, future), result in zip(group, results, strict=True):
                    _settle(future, result)
                return
        for work, future in group:
            try:
                (result,) = await self._transaction([work])
            except Exception as exc:
                _settle(future, error=exc)
            else:
                _settle(future, result)

    async def _transaction(self, works: list[Work[T]]) -> list[T]:
        results: list[Any] = []
        async with self._sessionmaker() as session:
            await writing(session)
            for work in works:
                results.append(await work(session))
            if self._before_commit is not None:
                await self._before_commit(session)
            await session.commit()
        return results


def _settle(
    future: asyncio.Future[T], result: Any = None, *, error: Exception | None = None
) -> None:
    """Hand the caller its result, unless it stopped waiting meanwhile."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def refusal(exc: BaseException) -> str | None:
    """Why the database refused the values a statement carried; None when it
    failed for any other reason (unreachable, shutting down, a bug).

    SQLSTATE class 22 is a data exception (a number out of range, text too
    long for its column, a NUL character), class 23 an integrity constraint
    violation. SQLAlchemy's asyncpg dialect raises a plain DBAPIError for
    class 22 (and for asyncpg's own "value out of int32 range"), so the
    SQLSTATE is read, not only the exception's class.
    https://www.postgresql.org/docs/current/errcodes-appendix.html
    """
    if not isinstance(exc, DBAPIError):
        return None
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    data = isinstance(code, str) and code[:2] in ("22", "23")
    if not (data or isinstance(exc, (DataError, IntegrityError))):
        return None
    lines = str(exc.orig).strip().splitlines() if exc.orig is not None else []
    return lines[0] if lines else type(exc).__name__
