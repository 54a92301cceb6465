"""Reading and requesting a package's refresh."""

from datetime import datetime, tzinfo
from typing import cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.links import Links
from app.config import Settings
from app.db.base import local_time, utcnow
from app.fetcher import leases
from app.fetcher.bookkeeping import settings_secrets
from app.fetcher.errors import clean_error_text
from app.fetcher.forges import fetched_hosts
from app.fetches.schemas import (
    FetchRead,
    RefreshState,
    Source,
    SourceFetchRead,
    SourceStatus,
    Upstream,
)
from app.models import FetchState, Package
from app.packages.repo_url import parse_repo_url


def scrub(text: str | None, settings: Settings) -> str | None:
    """Stored error text, cleaned once more of secrets before it is shown."""
    return None if text is None else clean_error_text(text, settings_secrets(settings))


def _latest(*moments: datetime | None) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None


def _source(
    package: Package,
    source: Source,
    state: FetchState | None,
    due_at: datetime | None,
    settings: Settings,
    zone: tzinfo,
) -> SourceFetchRead:
    upstream: Upstream | None
    if source == "repo":
        ref = parse_repo_url(package.repo_url, fetched_hosts(settings))
        upstream, url = (ref.forge if ref else None), package.repo_url
    else:
        upstream, url = "pypi", package.pypi_url

    if state is None:
        # Before the first fetch of this version, the package's own
        # Django-Packages columns are all there is to tell.
        failed = package.last_exception_at is not None and (
            package.last_fetched is None
            or package.last_exception_at > package.last_fetched
        )
        status: SourceStatus = (
            "never" if package.last_fetched is None and not failed else "ok"
        )
        if failed:
            status = "failed"
        if upstream is None:
            status = "unsupported"
        return SourceFetchRead(
            source=source,
            upstream=upstream,
            url=url,
            status=status,
            ok=None if status in ("never", "unsupported") else not failed,
            last_attempt_at=local_time(
                _latest(package.last_fetched, package.last_exception_at), zone
            )
            if status != "unsupported"
            else None,
            last_success_at=local_time(package.last_fetched, zone),
            last_error=scrub(package.last_exception, settings) if failed else None,
            error_count=package.last_exception_count if failed else 0,
            next_try_at=None if upstream is None else local_time(due_at, zone),
            unsupported=[],
        )

    ok = state.status in ("ok", "pending")
    return SourceFetchRead(
        source=source,
        upstream=upstream,
        url=url,
        status=cast(SourceStatus, state.status)
        if upstream is not None
        else "unsupported",
        ok=None if state.status == "never" else ok,
        last_attempt_at=local_time(state.last_attempt_at, zone),
        last_success_at=local_time(state.last_success_at, zone),
        last_error=scrub(state.last_error, settings),
        error_count=state.error_count,
        next_try_at=local_time(_latest(due_at, state.cooldown_until), zone),
        unsupported=list(state.unsupported),
    )


async def fetch_state(
    session: AsyncSession, package: Package, links: Links, settings: Settings
) -> FetchRead:
    zone = settings.zone
    row = await leases.refresh_row(session, package.id)
    states = {
        state.source: state
        for state in await session.scalars(
            select(FetchState)
            .where(FetchState.package_id == package.id)
            .execution_options(populate_existing=True)
        )
    }
    due_at = row.due_at if row else None
    wanted: list[tuple[Source, str]] = [
        ("repo", package.repo_url),
        ("pypi", package.pypi_url),
    ]
    sources = [
        _source(package, source, states.get(source), due_at, settings, zone)
        for source, url in wanted
        if url.strip()
    ]
    state = cast(RefreshState, (row.state if row else None) or "idle")
    return FetchRead(
        package=links.package(package.id),
        state=state,
        requested_at=local_time(row.requested_at, zone) if row else None,
        started_at=local_time(row.started_at, zone) if row else None,
        finished_at=local_time(row.finished_at, zone) if row else None,
        next_due_at=local_time(due_at, zone),
        sources=sources,
    )


async def request_fetch(session: AsyncSession, package: Package) -> bool:
    return await leases.request_now(session, package.id, now=utcnow())
