"""The refresh's queries: which packages to fetch, and storing what came back.

Results are written with UPDATEs of the fetched columns only, never by
saving a whole row read earlier: an edit a person makes while a fetch is in
flight (title, repo_url, documentation_url, ...) survives. `modified` tells
clients that a person changed the package, so it is never set here. These
functions only flush; the caller owns the transaction.

`FetchState` rows (one per package and source) are written by upsert, in
the dialect's own INSERT ... ON CONFLICT DO UPDATE (SQLite and PostgreSQL
both have it), setting only the columns a result has a value for.

A refresh writes thousands of rows with a handful of column sets, so those
two statements are built once per column set and kept (`_package_update`,
`_state_upsert`); only their parameters change from package to package.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Insert, Table, Update, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import FetchState, Package


@dataclass(frozen=True, slots=True)
class StoredPackage:
    """What a refresh needs to know about a package before fetching it."""

    id: int
    slug: str
    repo_url: str
    pypi_url: str
    documentation_url: str
    repo_watchers: int
    repo_forks: int
    repo_description: str
    repo_archived: bool
    pypi_version: str
    participants: list[str]
    commits_over_52: list[int]
    last_updated: datetime | None
    pypi_released_at: datetime | None = None
    python3: bool | None = None


_STORED_COLUMNS = (
    Package.id,
    Package.slug,
    Package.repo_url,
    Package.pypi_url,
    Package.documentation_url,
    Package.repo_watchers,
    Package.repo_forks,
    Package.repo_description,
    Package.repo_archived,
    Package.pypi_version,
    Package.participants,
    Package.commits_over_52,
    Package.last_updated,
    Package.pypi_released_at,
    Package.python3,
)


async def list_packages(
    session: AsyncSession,
    *,
    slugs: Sequence[str] | None = None,
    ids: Sequence[int] | None = None,
) -> list[StoredPackage]:
    """Every package, or those with the given slugs or ids, by id."""
    query = select(*_STORED_COLUMNS).order_by(Package.id)
    if slugs is not None:
        query = query.where(Package.slug.in_(slugs))
    if ids is not None:
        query = query.where(Package.id.in_(ids))
    rows = await session.execute(query)
    return [StoredPackage(**row._asdict()) for row in rows]


async def save_success(
    session: AsyncSession,
    package_id: int,
    values: Mapping[str, Any],
    *,
    at: datetime,
    note: str | None = None,
) -> None:
    """Store fetched values and mark the fetch done.

    A `note` (statistics still being computed) is kept in last_exception
    without counting as a failure; otherwise the failure count starts over.
    """
    bookkeeping: dict[str, Any] = {"last_fetched": at}
    if note is None:
        bookkeeping["last_exception_count"] = 0
    else:
        bookkeeping.update(last_exception=note, last_exception_at=at)
    await _update(session, package_id, {**values, **bookkeeping})


async def save_failure(
    session: AsyncSession,
    package_id: int,
    values: Mapping[str, Any],
    *,
    message: str,
    at: datetime,
) -> None:
    """Store what did succeed, and count one more consecutive failure."""
    await _update(
        session,
        package_id,
        {**values, "last_exception": message, "last_exception_at": at},
        count_failure=True,
    )


async def save_values(
    session: AsyncSession, package_id: int, values: Mapping[str, Any]
) -> None:
    """Store fetched values and nothing else: a fetch that neither failed nor finished."""
    if values:
        await _update(session, package_id, values)


async def fill_documentation_url(
    session: AsyncSession, package_id: int, url: str
) -> bool:
    """Set documentation_url unless someone has set one; whether it was set."""
    result = await session.execute(
        update(Package)
        .where(Package.id == package_id, Package.documentation_url == "")
        .values(documentation_url=url)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def repo_key_owner(
    session: AsyncSession, key: str, *, other_than: int
) -> int | None:
    """The id of another package that already claims this repository."""
    return await session.scalar(
        select(Package.id).where(Package.repo_key == key, Package.id != other_than)
    )


async def move_repo(
    session: AsyncSession, package_id: int, *, old_url: str, new_url: str, key: str
) -> bool:
    """Point a package at its repository's new address, unless its URL was edited."""
    result = await session.execute(
        update(Package)
        .where(Package.id == package_id, Package.repo_url == old_url)
        .values(repo_url=new_url, repo_key=key)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _update(
    session: AsyncSession,
    package_id: int,
    values: Mapping[str, Any],
    *,
    count_failure: bool = False,
) -> None:
    """Set `values` on one package; `count_failure` adds one to its failure count."""
    statement = _package_update(tuple(sorted(values)), count_failure)
    parameters = {f"new_{name}": value for name, value in values.items()}
    await session.execute(statement, {"package_id": package_id, **parameters})


@lru_cache(maxsize=256)
def _package_update(columns: tuple[str, ...], count_failure: bool) -> Update:
    table = cast(Table, Package.__table__)
    assignments: dict[str, Any] = {
        # The parameter may not be named after its column in an UPDATE.
        name: bindparam(f"new_{name}", type_=table.c[name].type)
        for name in columns
    }
    if count_failure:
        assignments["last_exception_count"] = table.c.last_exception_count + 1
    return (
        update(table).where(table.c.id == bindparam("package_id")).values(assignments)
    )


@dataclass(frozen=True, slots=True)
class SourceState:
    """One source's FetchState as stored before a fetch; the defaults when none is."""

    status: str = "never"
    error_count: int = 0
    not_found_count: int = 0
    not_found_since: datetime | None = None
    gone_at: datetime | None = None
    cooldown_until: datetime | None = None
    etags: dict[str, Any] = field(default_factory=dict)
    previous_urls: list[str] = field(default_factory=list)


_STATE_COLUMNS = (
    FetchState.source,
    FetchState.status,
    FetchState.error_count,
    FetchState.not_found_count,
    FetchState.not_found_since,
    FetchState.gone_at,
    FetchState.cooldown_until,
    FetchState.etags,
    FetchState.previous_urls,
)


async def get_fetch_states(
    session: AsyncSession, package_ids: Sequence[int]
) -> dict[int, dict[str, SourceState]]:
    """Each package's stored FetchState per source ("repo", "pypi"), in one query
    per 500 packages; a package with none maps to {}."""
    states: dict[int, dict[str, SourceState]] = {i: {} for i in package_ids}
    ids = list(package_ids)
    for start in range(0, len(ids), 500):
        rows = await session.execute(
            select(FetchState.package_id, *_STATE_COLUMNS).where(
                FetchState.package_id.in_(ids[start : start + 500])
            )
        )
        for row in rows:
            values = row._asdict()
            package_id, source = values.pop("package_id"), values.pop("source")
            states[package_id][source] = SourceState(**values)
    return states


async def save_fetch_state(
    session: AsyncSession, package_id: int, source: str, values: Mapping[str, Any]
) -> None:
    """Insert the source's FetchState, or set `values` on the one stored."""
    dialect = session.get_bind().dialect.name
    statement = _state_upsert(dialect, tuple(sorted(values)))
    await session.execute(
        statement, {"package_id": package_id, "source": source, **values}
    )


@lru_cache(maxsize=256)
def _state_upsert(dialect: str, columns: tuple[str, ...]) -> Insert:
    table = cast(Table, FetchState.__table__)
    keys = [table.c.package_id, table.c.source]
    if dialect == "postgresql":
        pg = postgresql.insert(table)
        return pg.on_conflict_do_update(
            index_elements=keys, set_={name: pg.excluded[name] for name in columns}
        )
    lite = sqlite.insert(table)
    return lite.on_conflict_do_update(
        index_elements=keys, set_={name: lite.excluded[name] for name in columns}
    )
