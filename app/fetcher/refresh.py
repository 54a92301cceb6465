"""One refresh run: fetch many packages concurrently and store each result.

For every package the repository host and PyPI are asked inside one of
`fetch_concurrency` slots. Waiting for GitHub to finish computing commit
statistics happens outside the slot, so other packages go on meanwhile.
Results are written in short transactions, a group of packages that
finished together to each (`app.fetcher.writer`); no transaction stays open
across HTTP calls.

A failure never blanks a stored value: the parts that did succeed are
stored, the error text goes to last_exception and last_exception_count
grows by one. A fully successful fetch sets last_fetched and resets the count.
A rate limit too long to wait is no failure: that source keeps its stored
values and the package is tried again next round. An answer with a value
outside the stored limits is a failed answer (`app.fetcher.checks`); should
the database still refuse a package's values, nothing fetched for it is
stored and its sources fail with the database's reason.

Besides those Django Packages columns, every source asked ("repo", "pypi")
gets its `FetchState` row written in the same transaction; the rules are in
`app.fetcher.bookkeeping`. A source in its cooldown (blocked) is not asked.

Before the packages start, GitHub is asked for the repository fields of the
whole run in a few GraphQL queries (with a token; `GitHubClient.prefetch`).
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import httpx
import structlog
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.base import utcnow
from app.db.engine import writing
from app.fetcher import leases, repository
from app.fetcher.bookkeeping import (
    SourceRun,
    error_text,
    in_cooldown,
    next_state,
    settings_secrets,
)
from app.fetcher.errors import FetchError, PermanentError, RateLimited
from app.fetcher.forge import ForgeClient, RepoStats
from app.fetcher.forges import fetched_hosts, forge_clients
from app.fetcher.github import GitHubClient
from app.fetcher.http import ETags, conditional
from app.fetcher.limiter import shared_limiters
from app.fetcher.pypi import PyPIClient, PyPIStats
from app.fetcher.repository import SourceState, StoredPackage
from app.fetcher.writer import GroupWriter, refusal
from app.packages.pypi_url import pypi_name
from app.packages.repo_url import RepoRef, parse_repo_url, repo_key
from app.packages.repository import rescore

log = structlog.get_logger(__name__)

# Stored packages whose leases are ended together in one transaction.
_LEASES_PER_WRITE = 32
# At most this many packages' results share one transaction.
_RESULTS_PER_WRITE = 32

STATS_PENDING_NOTE = "commit stats still computing (202)"

# A source entering one of these states is logged.
_NOTED_STATES = frozenset({"not_found", "gone", "blocked"})

Status = Literal["updated", "unchanged", "failed", "rate_limited"]


@dataclass(frozen=True, slots=True)
class PackageOutcome:
    package_id: int
    slug: str
    status: Status
    changed: tuple[str, ...] = ()  # the stored columns whose value changed
    message: str | None = None  # what went to last_exception, if anything


@dataclass(slots=True)
class RefreshSummary:
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    rate_limited: int = 0  # tried again next round; not failures
    missing: list[str] = field(default_factory=list)  # asked-for slugs not found

    @property
    def total(self) -> int:
        return self.updated + self.unchanged + self.failed + self.rate_limited

    def add(self, outcome: PackageOutcome) -> None:
        if outcome.status == "updated":
            self.updated += 1
        elif outcome.status == "unchanged":
            self.unchanged += 1
        elif outcome.status == "rate_limited":
            self.rate_limited += 1
        else:
            self.failed += 1


async def refresh_packages(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    *,
    slugs: list[str] | None = None,
    on_progress: Callable[[PackageOutcome], None] | None = None,
) -> RefreshSummary:
    """Refresh every package, or those with the given slugs.

    Slugs that name no package are listed in `RefreshSummary.missing`.
    `on_progress` is called once per package as its result is stored.
    """
    async with sessionmaker() as session:
        packages = await repository.list_packages(session, slugs=slugs)

    found = {package.slug for package in packages}
    missing = [slug for slug in dict.fromkeys(slugs or []) if slug not in found]
    refresher = _Refresher(settings, sessionmaker, http_client)
    summary = await refresher.run(packages, on_progress)
    summary.missing = missing
    return summary


async def refresh_due(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    *,
    owner: str,
    stop: asyncio.Event | None = None,
) -> RefreshSummary:
    """Lease one batch of due packages to `owner`, refresh them, end the leases.

    Leases end shortly after their packages are stored (a few dozen at a
    time, and all at the end), each package due again a fetch_interval later. Once `stop` is set no further package is
    started; if this is cancelled, the packages not yet stored are given
    back at once, still due.
    """
    async with sessionmaker() as session:
        await writing(session)
        await leases.add_missing_rows(session, settings.fetch_interval)
        claimed = await leases.claim_due(
            session,
            owner=owner,
            limit=settings.fetch_batch_size,
            lease=settings.fetch_lease,
            now=utcnow(),
        )
        await session.commit()
    if not claimed:
        return RefreshSummary()

    unfinished = set(claimed)
    stored: list[PackageOutcome] = []  # stored, their leases not ended yet

    async def end_leases() -> None:
        """End the leases of the stored packages, a few statements for many."""
        done = stored[:]
        del stored[:]
        if not done:
            return
        groups: dict[tuple[bool, timedelta], list[int]] = {}
        for outcome in done:
            # A package held back by a rate limit is due again at the next
            # round; the shared limiter decides when its requests may go.
            wait = (
                timedelta(seconds=settings.fetch_poll_seconds)
                if outcome.status == "rate_limited"
                else settings.fetch_interval
            )
            key = (outcome.status != "failed", wait)
            groups.setdefault(key, []).append(outcome.package_id)
        now = utcnow()
        async with sessionmaker() as session:
            for (ok, wait), package_ids in groups.items():
                await leases.finish(
                    session,
                    package_ids,
                    owner=owner,
                    ok=ok,
                    next_due=now + wait,
                    now=now,
                )
            await session.commit()
        unfinished.difference_update(outcome.package_id for outcome in done)

    async def finish(outcome: PackageOutcome) -> None:
        stored.append(outcome)
        if len(stored) >= _LEASES_PER_WRITE:
            await end_leases()

    try:
        async with sessionmaker() as session:
            packages = await repository.list_packages(session, ids=claimed)
        refresher = _Refresher(settings, sessionmaker, http_client)
        return await refresher.run(packages, on_stored=finish, stop=stop)
    finally:
        await asyncio.shield(end_leases())
        if unfinished:
            await asyncio.shield(_give_back(sessionmaker, sorted(unfinished), owner))


async def _give_back(
    sessionmaker: async_sessionmaker[AsyncSession], package_ids: list[int], owner: str
) -> None:
    async with sessionmaker() as session:
        await leases.release(session, package_ids, owner=owner)
        await session.commit()
    log.info("fetch.leases_released", owner=owner, packages=len(package_ids))


class _Slots:
    """The fetch_concurrency slots, knowing which tasks have taken one."""

    def __init__(self, size: int) -> None:
        self._semaphore = asyncio.Semaphore(size)
        self._started: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> None:
        await self._semaphore.acquire()
        task = asyncio.current_task()
        if task is not None:
            self._started.add(task)

    async def __aexit__(self, *_exc: object) -> None:
        self._semaphore.release()

    async def cancel_waiting(
        self, stop: asyncio.Event, tasks: Sequence[asyncio.Task[None]]
    ) -> None:
        """Once `stop` is set, cancel the tasks that never got a slot."""
        await stop.wait()
        for task in tasks:
            if task not in self._started:
                task.cancel()


class _Refresher:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        http_client: httpx.AsyncClient,
    ) -> None:
        self._settings = settings
        self._sessionmaker = sessionmaker
        self._slots = _Slots(settings.fetch_concurrency)
        # One client per host: a repository on any other host is not fetched.
        self._hosts = fetched_hosts(settings)
        self._forges: dict[str, ForgeClient] = forge_clients(http_client, settings)
        self._pypi = PyPIClient(http_client, settings)
        self._limiters = shared_limiters(http_client, settings)
        self._secrets = settings_secrets(settings)
        # What each package's sources had stored when the batch was read.
        self._states: dict[int, dict[str, SourceState]] = {}
        self._writer: GroupWriter[dict[str, Any]] = GroupWriter(
            sessionmaker, size=_RESULTS_PER_WRITE, before_commit=_rescore_written
        )

    async def run(
        self,
        packages: Sequence[StoredPackage],
        on_progress: Callable[[PackageOutcome], None] | None = None,
        on_stored: Callable[[PackageOutcome], Awaitable[None]] | None = None,
        stop: asyncio.Event | None = None,
    ) -> RefreshSummary:
        """Refresh `packages`; once `stop` is set, those still waiting for a
        slot are not started (their tasks are cancelled; nothing is stored)."""
        summary = RefreshSummary()
        self._limiters.begin_run()
        async with self._sessionmaker() as session:
            self._states = await repository.get_fetch_states(
                session, [package.id for package in packages]
            )
        await self._prefetch(packages)

        async def refresh(package: StoredPackage) -> None:
            outcome = await self._refresh_guarded(package)
            summary.add(outcome)
            if on_stored is not None:
                await on_stored(outcome)
            if on_progress is not None:
                on_progress(outcome)

        tasks: list[asyncio.Task[None]] = []
        watcher = (
            asyncio.create_task(self._slots.cancel_waiting(stop, tasks))
            if stop is not None
            else None
        )
        try:
            async with self._writer, asyncio.TaskGroup() as group:
                tasks.extend(
                    group.create_task(refresh(package)) for package in packages
                )
        finally:
            if watcher is not None:
                watcher.cancel()
        return summary

    async def _prefetch(self, packages: Sequence[StoredPackage]) -> None:
        """Let GitHub answer the repository fields of every package in batches."""
        github = self._forges.get("github.com")
        if not isinstance(github, GitHubClient):
            return
        refs = (parse_repo_url(package.repo_url, self._hosts) for package in packages)
        await github.prefetch(
            ref for ref in refs if ref is not None and ref.host == "github.com"
        )

    async def _refresh_guarded(self, package: StoredPackage) -> PackageOutcome:
        """Refresh one package; a bug here must not stop the others."""
        try:
            return await self._refresh(package)
        except (SQLAlchemyError, OSError) as exc:
            # The database went away under the store: nothing was written,
            # and the lease is given back, or expires, for a later round.
            log.warning(
                "fetch.store_failed", package_id=package.id, error=type(exc).__name__
            )
            return PackageOutcome(
                package.id, package.slug, "failed", message="database unavailable"
            )
        except Exception as exc:
            log.exception("fetch.crashed", package_id=package.id)
            message = f"internal error: {type(exc).__name__}"
            # Recording the crash keeps the scheduler from picking the package
            # again on every poll; if the database is what failed, give up.
            with contextlib.suppress(Exception):
                async with self._sessionmaker() as session:
                    await repository.save_failure(
                        session, package.id, {}, message=message, at=utcnow()
                    )
                    await session.commit()
            return PackageOutcome(package.id, package.slug, "failed", message=message)

    async def _refresh(self, package: StoredPackage) -> PackageOutcome:
        ref = parse_repo_url(package.repo_url, self._hosts)
        forge = self._forges.get(ref.host) if ref is not None else None

        repo: RepoStats | None = None
        pypi: PyPIStats | None = None
        async with self._slots:
            states = self._states.get(package.id, {})
            runs, cooling = self._runs(
                package,
                states,
                repo=forge is not None,
                pypi=bool(package.pypi_url.strip()),
            )
            if forge is not None and ref is not None and "repo" in runs:
                repo = await self._fetch_repo(forge, ref, runs["repo"])
            if "pypi" in runs:
                pypi = await self._fetch_pypi_source(package.pypi_url, runs["pypi"])

        if forge is not None and repo is not None and repo.activity_pending:
            try:
                await self._wait_for_activity(forge, repo)
            except FetchError as exc:
                runs["repo"].errors.append(exc)
            runs["repo"].pending = repo.activity_pending

        for source, run in runs.items():
            for error in run.errors:
                fields = {
                    "package_id": package.id,
                    "source": source,
                    "url": error.url,
                    "status": error.status,
                    "error": error_text([error], self._secrets),
                }
                if isinstance(error, RateLimited):
                    # The limiter logged the pause; this package waits a round.
                    log.info("fetch.postponed", **fields)
                else:
                    log.warning("fetch.failed", **fields)
        return await self._store(package, repo, pypi, runs, cooling=cooling)

    def _runs(
        self,
        package: StoredPackage,
        states: dict[str, SourceState],
        *,
        repo: bool,
        pypi: bool,
    ) -> tuple[dict[str, SourceRun], bool]:
        """The sources to ask this time, and whether one was left out for its cooldown."""
        now = utcnow()
        runs: dict[str, SourceRun] = {}
        cooling = False
        for source, has in (("repo", repo), ("pypi", pypi)):
            stored = states.get(source, SourceState())
            if not has:
                continue
            if in_cooldown(stored, now):
                log.info(
                    "fetch.cooldown",
                    package_id=package.id,
                    source=source,
                    until=stored.cooldown_until,
                )
                cooling = True
                continue
            runs[source] = SourceRun.start(stored)
        return runs, cooling

    async def _fetch_repo(
        self, forge: ForgeClient, ref: RepoRef, run: SourceRun
    ) -> RepoStats | None:
        with conditional(run.etags):
            try:
                repo = await forge.fetch(ref)
            except FetchError as exc:
                run.errors.append(exc)
                return None
        run.fetched = True
        run.errors.extend(repo.errors)
        run.pending = repo.activity_pending
        run.unsupported = repo.unsupported
        return repo

    async def _fetch_pypi_source(
        self, pypi_url: str, run: SourceRun
    ) -> PyPIStats | None:
        with conditional(run.etags):
            try:
                pypi = await self._fetch_pypi(pypi_url)
            except FetchError as exc:
                run.errors.append(exc)
                return None
        run.fetched = True
        return pypi

    async def _fetch_pypi(self, pypi_url: str) -> PyPIStats:
        name = pypi_name(pypi_url)
        if name is None:
            raise PermanentError("not a PyPI project URL", url=pypi_url)
        return await self._pypi.fetch(name)

    async def _wait_for_activity(self, forge: ForgeClient, repo: RepoStats) -> None:
        """Ask again for statistics still being computed, holding no slot while paused.

        At most fetch_stats_attempts asks in all, the pauses doubling from
        fetch_stats_delay; if still not ready the stored weeks are kept.
        """
        delay = self._settings.fetch_stats_delay
        for _ in range(self._settings.fetch_stats_attempts - 1):
            await asyncio.sleep(delay)
            delay *= 2
            async with self._slots:
                weeks = await forge.fetch_activity(repo.ref)
            if weeks is not None:
                repo.commits_over_52 = weeks
                repo.activity_pending = False
                return

    async def _store(
        self,
        package: StoredPackage,
        repo: RepoStats | None,
        pypi: PyPIStats | None,
        runs: dict[str, SourceRun],
        *,
        cooling: bool,
        retried: bool = False,
    ) -> PackageOutcome:
        # A source that ran into a rate limit keeps what is stored, whole.
        if "repo" in runs and runs["repo"].rate_limited:
            repo = None
        if "pypi" in runs and runs["pypi"].rate_limited:
            pypi = None
        values = _fetched_values(repo, pypi)
        fetched = {
            column: value
            for column, value in values.items()
            if getattr(package, column) != value
        }
        note = (
            STATS_PENDING_NOTE if repo is not None and repo.activity_pending else None
        )
        failures = [error for run in runs.values() for error in run.failures]
        message = error_text(failures, self._secrets) if failures else None
        rate_limited = any(run.rate_limited for run in runs.values())
        now = utcnow()
        statuses: dict[str, Any] = {}  # each source's status as written

        async def write(session: AsyncSession) -> dict[str, Any]:
            """This package's statements; the columns they changed. Run again
            on its own should the group it was written with fail."""
            changed = dict(fetched)
            statuses.clear()
            if "repo" in runs:
                runs["repo"].moved_from = None
            if message is not None:
                await repository.save_failure(
                    session, package.id, changed, message=message, at=now
                )
            elif rate_limited or cooling:
                # Not done: a source was not asked, so the failure count and
                # last_fetched stay as they are.
                await repository.save_values(session, package.id, changed)
            else:
                await repository.save_success(
                    session, package.id, changed, at=now, note=note
                )
            docs = pypi.documentation_url if pypi is not None else None
            if (
                docs
                and not package.documentation_url
                and await repository.fill_documentation_url(session, package.id, docs)
            ):
                changed["documentation_url"] = docs
            if repo is not None and await self._follow_move(session, package, repo):
                changed["repo_url"] = repo.ref.canonical_url
                runs["repo"].moved_from = package.repo_url
            # Scored with the rest of its group, once every package is written.
            session.info.setdefault(_TO_RESCORE, []).append(package.id)
            for source, run in runs.items():
                state = next_state(
                    run, now=now, settings=self._settings, secrets=self._secrets
                )
                await repository.save_fetch_state(session, package.id, source, state)
                statuses[source] = state.get("status")
            return changed

        try:
            changed = await self._writer.write(write)
        except DBAPIError as exc:
            reason = refusal(exc)
            if reason is None or retried:
                raise
            return await self._store_refused(package, runs, reason, cooling=cooling)
        for source, status in statuses.items():
            if runs[source].stored.status != status and status in _NOTED_STATES:
                log.info(
                    "fetch.source_state",
                    package_id=package.id,
                    source=source,
                    status=status,
                )

        if message is not None:
            outcome: Status = "failed"
        elif rate_limited:
            outcome = "rate_limited"
        else:
            outcome = "updated" if changed else "unchanged"
        if changed:
            log.info("fetch.updated", package_id=package.id, columns=sorted(changed))
        if note is not None and message is None:
            log.info("fetch.stats_pending", package_id=package.id)
        return PackageOutcome(
            package.id, package.slug, outcome, tuple(sorted(changed)), message or note
        )

    async def _store_refused(
        self,
        package: StoredPackage,
        runs: dict[str, SourceRun],
        reason: str,
        *,
        cooling: bool,
    ) -> PackageOutcome:
        """Record that the database refused a value of this package's fetch.

        Its transaction stored nothing fetched, whichever value it was, so
        every source that answered fails with the database's reason. Each
        keeps the ETags stored before, so a later 304 cannot stand for the
        answer that was refused.
        """
        log.warning("fetch.store_refused", package_id=package.id, error=reason)
        error = PermanentError(f"not stored: the database refused a value: {reason}")
        for run in runs.values():
            if run.fetched:
                run.errors.append(error)
                run.etags = ETags(run.stored.etags)
        return await self._store(
            package, None, None, runs, cooling=cooling, retried=True
        )

    async def _follow_move(
        self, session: AsyncSession, package: StoredPackage, repo: RepoStats
    ) -> bool:
        """Point repo_url at a renamed repository's new address.

        Skipped when another package already claims that repository: two
        packages may not share one, and which one is right is for a person.
        """
        new_key = repo_key(repo.ref.canonical_url, self._hosts)
        # Compared as parsed with self-hosted instances known, so that
        # ".../name.git" on one of them is not taken for a move.
        old = parse_repo_url(package.repo_url, self._hosts)
        if new_key is None or (old is not None and old.same_repo(repo.ref)):
            return False
        owner = await repository.repo_key_owner(session, new_key, other_than=package.id)
        if owner is not None:
            log.warning(
                "fetch.repo_conflict",
                package_id=package.id,
                url=repo.ref.canonical_url,
                other_package_id=owner,
            )
            return False
        moved = await repository.move_repo(
            session,
            package.id,
            old_url=package.repo_url,
            new_url=repo.ref.canonical_url,
            key=new_key,
        )
        if moved:
            log.info(
                "fetch.repo_moved", package_id=package.id, url=repo.ref.canonical_url
            )
        return moved


_TO_RESCORE = "packages_api_rescore"


async def _rescore_written(session: AsyncSession) -> None:
    """Recompute the scores of the packages this transaction wrote, in one query."""
    package_ids = session.info.pop(_TO_RESCORE, [])
    if package_ids:
        await rescore(session, *package_ids)


def _fetched_values(repo: RepoStats | None, pypi: PyPIStats | None) -> dict[str, Any]:
    """The stored columns this fetch has a value for; absent means keep."""
    values: dict[str, Any] = {}
    if repo is not None:
        own = {
            "repo_watchers": repo.watchers,
            "repo_forks": repo.forks,
            "repo_description": repo.description,
            "repo_archived": repo.archived,
        }
        # None after a 304: not modified, so what is stored stands.
        values.update({column: v for column, v in own.items() if v is not None})
        if repo.participants is not None:
            values["participants"] = repo.participants
        if repo.commits_over_52 is not None:
            values["commits_over_52"] = repo.commits_over_52
        if repo.last_updated is not None or repo.empty:
            values["last_updated"] = repo.last_updated
        for column in repo.unsupported:  # the forge has no such value: keep ours
            values.pop(column, None)
    if pypi is not None and pypi.version is not None:
        values["pypi_version"] = pypi.version
        values["pypi_released_at"] = pypi.released_at
        values["python3"] = pypi.python3
    return values
