"""GroupWriter: results that arrive together share a transaction, and one
bad result costs only its own package."""

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.fetcher.writer import GroupWriter, refusal
from app.models import Package
from tests.factories import make_category, make_package

Maker = async_sessionmaker[AsyncSession]

_numbers = itertools.count(1)


def session_number(session: AsyncSession) -> int:
    """A number of its own for each session (ids of freed objects come back)."""
    number: int = session.info.setdefault("test_number", next(_numbers))
    return number


@pytest.fixture
async def five(sessionmaker: Maker) -> None:
    await make_category(sessionmaker)
    for number in range(1, 6):
        await make_package(sessionmaker, id=number, repo_watchers=0)


def set_stars(
    package_id: int, stars: int, sessions: list[int]
) -> Callable[[AsyncSession], Awaitable[int]]:
    async def work(session: AsyncSession) -> int:
        sessions.append(session_number(session))
        await session.execute(
            update(Package).where(Package.id == package_id).values(repo_watchers=stars)
        )
        return stars

    return work


async def stars(sessionmaker: Maker) -> list[int]:
    async with sessionmaker() as session:
        rows = await session.scalars(select(Package.repo_watchers).order_by(Package.id))
        return list(rows)


@pytest.mark.usefixtures("five")
async def test_results_waiting_together_are_written_in_one_transaction(
    sessionmaker: Maker,
) -> None:
    sessions: list[int] = []
    async with GroupWriter[int](sessionmaker, size=32) as writer:
        results = await asyncio.gather(
            *(writer.write(set_stars(n, 10 * n, sessions)) for n in range(1, 6))
        )
    assert results == [10, 20, 30, 40, 50]
    assert len(sessions) == 5
    assert len(set(sessions)) == 1
    assert await stars(sessionmaker) == [10, 20, 30, 40, 50]


@pytest.mark.usefixtures("five")
async def test_a_group_holds_at_most_size_results(sessionmaker: Maker) -> None:
    sessions: list[int] = []
    async with GroupWriter[int](sessionmaker, size=2) as writer:
        await asyncio.gather(
            *(writer.write(set_stars(n, n, sessions)) for n in range(1, 6))
        )
    groups = [sessions.count(one) for one in dict.fromkeys(sessions)]
    assert groups == [2, 2, 1]
    assert await stars(sessionmaker) == [1, 2, 3, 4, 5]


@pytest.mark.usefixtures("five")
async def test_a_failing_result_is_retried_alone_and_fails_alone(
    sessionmaker: Maker,
) -> None:
    sessions: list[int] = []

    async def take_a_used_slug(session: AsyncSession) -> int:
        sessions.append(session_number(session))
        await session.execute(
            update(Package).where(Package.id == 3).values(slug="package-1")
        )
        return 0

    works = [set_stars(n, 10 * n, sessions) for n in (1, 2)]
    works += [take_a_used_slug]
    works += [set_stars(n, 10 * n, sessions) for n in (4, 5)]
    async with GroupWriter[int](sessionmaker, size=32) as writer:
        results = await asyncio.gather(
            *(writer.write(work) for work in works), return_exceptions=True
        )
    assert results[:2] == [10, 20]
    assert isinstance(results[2], IntegrityError)
    assert results[3:] == [40, 50]
    # Tried as a group of five (the third failed, so none was kept), then
    # each alone: six transactions.
    assert len(set(sessions)) == 6
    assert await stars(sessionmaker) == [10, 20, 0, 40, 50]
    async with sessionmaker() as session:
        assert await session.scalar(select(Package.slug).where(Package.id == 3)) == (
            "package-3"
        )


@pytest.mark.usefixtures("five")
async def test_a_caller_that_stops_waiting_is_not_written(sessionmaker: Maker) -> None:
    sessions: list[int] = []
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(session: AsyncSession) -> int:
        started.set()
        await release.wait()
        return await set_stars(1, 10, sessions)(session)

    async with GroupWriter[int](sessionmaker, size=32) as writer:
        first = asyncio.create_task(writer.write(slow))
        await started.wait()
        # Queued while the first group is being written, then given up.
        second = asyncio.create_task(writer.write(set_stars(2, 20, sessions)))
        await asyncio.sleep(0)
        second.cancel()
        release.set()
        assert await first == 10
        with pytest.raises(asyncio.CancelledError):
            await second
    assert await stars(sessionmaker) == [10, 0, 0, 0, 0]


@pytest.mark.usefixtures("five")
async def test_stopping_the_writer_rolls_back_the_group_in_progress(
    sessionmaker: Maker,
) -> None:
    sessions: list[int] = []
    started = asyncio.Event()

    async def stuck(session: AsyncSession) -> int:
        await set_stars(1, 10, sessions)(session)
        started.set()
        await asyncio.Event().wait()  # never set
        return 10

    writer = GroupWriter[int](sessionmaker, size=32)
    async with writer:
        caller = asyncio.create_task(writer.write(stuck))
        await started.wait()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert await stars(sessionmaker) == [0, 0, 0, 0, 0]


class DriverError(Exception):
    """A driver's exception as SQLAlchemy wraps it, with a SQLSTATE."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            DBAPIError("UPDATE", {}, DriverError("value too long\nDETAIL: x", "22001")),
            "value too long",
        ),
        (
            IntegrityError("UPDATE", {}, DriverError("UNIQUE constraint failed", None)),
            "UNIQUE constraint failed",
        ),
        (DBAPIError("UPDATE", {}, DriverError("shutting down", "57P01")), None),
        (DBAPIError("UPDATE", {}, DriverError("syntax error", "42601")), None),
        (OperationalError("UPDATE", {}, DriverError("database is locked", None)), None),
        (ConnectionResetError("reset"), None),
    ],
    ids=["data", "integrity", "shutdown", "bug", "locked", "connection"],
)
def test_a_refused_value_is_told_from_the_database_failing(
    error: BaseException, reason: str | None
) -> None:
    assert refusal(error) == reason
