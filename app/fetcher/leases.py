"""Who refreshes which package when: due times, leases and requests.

Every package has a `PackageRefresh` row. A refresher claims a batch of due
rows by writing its name and a lease expiry on them; on PostgreSQL the claim
reads with `FOR UPDATE SKIP LOCKED`, so any number of workers and `serve`
processes share the work and none fetches a package another holds. A
worker that dies keeps its packages only until the lease expires; then
anyone may take them. On SQLite one refresher runs, and the claim is still a
conditional update, so a second one could not take a held package either.

Functions here flush at most; each caller commits its own short transaction.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.queries import insert_missing
from app.models import Package, PackageRefresh

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
# Refresh rows added in one statement, and the number past which
# PostgreSQL's statistics of the table are renewed on the spot.
_ADD_AT_ONCE = 1000
_ANALYZE_AFTER = 100


def _is_due(now: datetime) -> ColumnElement[bool]:
    return or_(
        PackageRefresh.state == QUEUED,
        PackageRefresh.due_at.is_(None),
        PackageRefresh.due_at <= now,
    )


def _is_free(now: datetime) -> ColumnElement[bool]:
    return or_(
        PackageRefresh.lease_expires_at.is_(None),
        PackageRefresh.lease_expires_at <= now,
    )


async def add_missing_rows(session: AsyncSession, interval: timedelta) -> int:
    """Give packages without a refresh row one; the number given.

    It is due an interval after the package was last fetched or last
    failed, whichever is later, or now when neither ever happened. Rows go
    in a thousand at a time, so that a first claim on a large catalogue
    holds no more of it in memory than a later one.
    """
    missing = (
        select(Package.id, Package.last_fetched, Package.last_exception_at)
        .outerjoin(PackageRefresh, PackageRefresh.package_id == Package.id)
        .where(PackageRefresh.package_id.is_(None))
        .limit(_ADD_AT_ONCE)
    )
    added = 0
    while rows := (await session.execute(missing)).all():
        # Another refresher may add the same rows at the same moment.
        await insert_missing(
            session,
            PackageRefresh,
            [
                {
                    "package_id": package_id,
                    "due_at": max(times) + interval
                    if (times := [t for t in seen if t])
                    else None,
                }
                for package_id, *seen in rows
            ],
            [PackageRefresh.package_id],
        )
        added += len(rows)
        if (
            len(rows) >= _ANALYZE_AFTER
            and session.get_bind().dialect.name == "postgresql"
        ):
            # PostgreSQL's planner still sees the table as it was (empty,
            # right after an import): it would answer the query above, which
            # runs before every claim, with a nested loop that compares every
            # package with every row, a second per claim at 4,000 packages,
            # until autovacuum looks again. Fresh statistics make it a hash
            # join now.
            await session.execute(text("ANALYZE package_refreshes"))
        if len(rows) < _ADD_AT_ONCE:
            break
    return added


async def claim_due(
    session: AsyncSession,
    *,
    owner: str,
    limit: int,
    lease: timedelta,
    now: datetime,
) -> list[int]:
    """Lease up to `limit` due packages to `owner`: asked-for first, then oldest due."""
    due = (
        select(PackageRefresh.package_id)
        .where(_is_due(now), _is_free(now))
        .order_by(
            case((PackageRefresh.state == QUEUED, 0), else_=1),
            PackageRefresh.due_at.asc().nulls_first(),
            PackageRefresh.package_id,
        )
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)

    # One statement: rows another claimer holds are skipped (PostgreSQL) or
    # waited for and then no longer free (SQLite), never taken twice.
    claimed = await session.scalars(
        update(PackageRefresh)
        .where(PackageRefresh.package_id.in_(due.scalar_subquery()), _is_free(now))
        .values(
            lease_owner=owner,
            lease_expires_at=now + lease,
            state=RUNNING,
            started_at=now,
            # Due now, so that if the holder dies the package is taken over
            # as soon as the lease expires, even if it was only asked for.
            due_at=now,
        )
        .returning(PackageRefresh.package_id)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed)


async def finish(
    session: AsyncSession,
    package_ids: Sequence[int],
    *,
    owner: str,
    ok: bool,
    next_due: datetime,
    now: datetime,
) -> None:
    """End `owner`'s leases on packages after their fetch, and say when they are due next."""
    await session.execute(
        update(PackageRefresh)
        .where(
            PackageRefresh.package_id.in_(package_ids),
            PackageRefresh.lease_owner == owner,
        )
        .values(
            lease_owner=None,
            lease_expires_at=None,
            finished_at=now,
            due_at=next_due,
            state=DONE if ok else FAILED,
        )
        .execution_options(synchronize_session=False)
    )


async def release(
    session: AsyncSession, package_ids: Sequence[int], *, owner: str
) -> None:
    """Give packages back unfetched (shutting down): they stay due for anyone."""
    if not package_ids:
        return
    await session.execute(
        update(PackageRefresh)
        .where(
            PackageRefresh.package_id.in_(package_ids),
            PackageRefresh.lease_owner == owner,
        )
        .values(
            lease_owner=None,
            lease_expires_at=None,
            state=case((PackageRefresh.requested_at.is_not(None), QUEUED), else_=None),
        )
        .execution_options(synchronize_session=False)
    )


async def request_now(session: AsyncSession, package_id: int, *, now: datetime) -> bool:
    """Queue a refresh of one package; False when one is already pending.

    Pending means queued, or running under a live lease. The update is
    conditional, so concurrent requests queue one refresh between them.
    """
    result = await session.execute(
        update(PackageRefresh)
        .where(
            PackageRefresh.package_id == package_id,
            or_(
                PackageRefresh.state.is_(None),
                PackageRefresh.state.in_((DONE, FAILED)),
                and_(PackageRefresh.state == RUNNING, _is_free(now)),
            ),
        )
        .values(state=QUEUED, requested_at=now)
        .returning(PackageRefresh.package_id)
        .execution_options(synchronize_session=False)
    )
    if result.first() is not None:
        return True
    exists = await session.scalar(
        select(PackageRefresh.package_id).where(PackageRefresh.package_id == package_id)
    )
    if exists is not None:
        return False
    try:
        async with session.begin_nested():
            session.add(
                PackageRefresh(package_id=package_id, state=QUEUED, requested_at=now)
            )
    except IntegrityError:
        return False  # another request made the row first
    return True


@dataclass(frozen=True, slots=True)
class RefreshRow:
    state: str | None
    due_at: datetime | None
    requested_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


async def refresh_row(session: AsyncSession, package_id: int) -> RefreshRow | None:
    row = await session.get(PackageRefresh, package_id, populate_existing=True)
    if row is None:
        return None
    return RefreshRow(
        state=row.state,
        due_at=row.due_at,
        requested_at=row.requested_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )
