"""One refresh run: fetch many packages concurrently and store each result.

For every package the repository host and PyPI are asked inside one of
`fetch_concurrency` slots. Waiting for GitHub to finish computing commit
statistics happens outside the slot, so other packages go on meanwhile.
Each result is written in its own short transaction; no transaction stays
open across HTTP calls.

A failure never blanks a stored value: the parts that did succeed are
stored, the error text goes to last_exception and last_exception_count
grows by one. A fully successful fetch sets last_fetched and resets the count.
"""

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.base import utcnow
from app.fetcher import repository
from app.fetcher.errors import FetchError, PermanentError
from app.fetcher.forge import ForgeClient, RepoStats
from app.fetcher.github import GitHubClient
from app.fetcher.pypi import PyPIClient, PyPIStats, pypi_name
from app.fetcher.repository import StoredPackage
from app.packages.repo_url import Forge, parse_repo_url, repo_key

log = structlog.get_logger(__name__)

STATS_PENDING_NOTE = "commit stats still computing (202)"

Status = Literal["updated", "unchanged", "failed"]


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
    missing: list[str] = field(default_factory=list)  # asked-for slugs not found

    @property
    def total(self) -> int:
        return self.updated + self.unchanged + self.failed

    def add(self, outcome: PackageOutcome) -> None:
        if outcome.status == "updated":
            self.updated += 1
        elif outcome.status == "unchanged":
            self.unchanged += 1
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
) -> RefreshSummary:
    """Refresh one batch of packages whose stats are older than fetch_interval."""
    async with sessionmaker() as session:
        packages = await repository.list_due_packages(
            session,
            fetched_before=utcnow() - settings.fetch_interval,
            limit=settings.fetch_batch_size,
        )
    return await _Refresher(settings, sessionmaker, http_client).run(packages)


class _Refresher:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        http_client: httpx.AsyncClient,
    ) -> None:
        self._settings = settings
        self._sessionmaker = sessionmaker
        self._slots = asyncio.Semaphore(settings.fetch_concurrency)
        # TODO: only GitHub is fetched; packages on GitLab, Bitbucket or
        # Codeberg keep their stored repository stats until those forges
        # get a client here.
        self._forges: dict[Forge, ForgeClient] = {
            "github": GitHubClient(http_client, settings),
        }
        self._pypi = PyPIClient(http_client, settings)

    async def run(
        self,
        packages: Sequence[StoredPackage],
        on_progress: Callable[[PackageOutcome], None] | None = None,
    ) -> RefreshSummary:
        summary = RefreshSummary()

        async def refresh(package: StoredPackage) -> None:
            outcome = await self._refresh_guarded(package)
            summary.add(outcome)
            if on_progress is not None:
                on_progress(outcome)

        async with asyncio.TaskGroup() as group:
            for package in packages:
                group.create_task(refresh(package))
        return summary

    async def _refresh_guarded(self, package: StoredPackage) -> PackageOutcome:
        """Refresh one package; a bug here must not stop the others."""
        try:
            return await self._refresh(package)
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
        errors: list[FetchError] = []
        ref = parse_repo_url(package.repo_url) if package.repo_url.strip() else None
        forge = self._forges.get(ref.forge) if ref is not None else None

        repo: RepoStats | None = None
        pypi: PyPIStats | None = None
        async with self._slots:
            if forge is not None and ref is not None:
                try:
                    repo = await forge.fetch(ref)
                    errors.extend(repo.errors)
                except FetchError as exc:
                    errors.append(exc)
            if package.pypi_url.strip():
                try:
                    pypi = await self._fetch_pypi(package.pypi_url)
                except FetchError as exc:
                    errors.append(exc)

        if forge is not None and repo is not None and repo.activity_pending:
            try:
                await self._wait_for_activity(forge, repo)
            except FetchError as exc:
                errors.append(exc)

        for error in errors:
            log.warning(
                "fetch.failed",
                package_id=package.id,
                url=error.url,
                status=error.status,
                error=str(error),
            )
        return await self._store(package, repo, pypi, errors)

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
        errors: list[FetchError],
    ) -> PackageOutcome:
        values = _fetched_values(repo, pypi)
        changed = {
            column: value
            for column, value in values.items()
            if getattr(package, column) != value
        }
        note = (
            STATS_PENDING_NOTE if repo is not None and repo.activity_pending else None
        )
        message = "; ".join(str(error) for error in errors) or None
        now = utcnow()

        async with self._sessionmaker() as session:
            if message is not None:
                await repository.save_failure(
                    session, package.id, changed, message=message, at=now
                )
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
            await session.commit()

        if message is not None:
            status: Status = "failed"
        else:
            status = "updated" if changed else "unchanged"
        if changed:
            log.info("fetch.updated", package_id=package.id, columns=sorted(changed))
        if note is not None and message is None:
            log.info("fetch.stats_pending", package_id=package.id)
        return PackageOutcome(
            package.id, package.slug, status, tuple(sorted(changed)), message or note
        )

    async def _follow_move(
        self, session: AsyncSession, package: StoredPackage, repo: RepoStats
    ) -> bool:
        """Point repo_url at a renamed repository's new address.

        Skipped when another package already claims that repository: two
        packages may not share one, and which one is right is for a person.
        """
        new_key = repo_key(repo.ref.canonical_url)
        if new_key is None or new_key == repo_key(package.repo_url):
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


def _fetched_values(repo: RepoStats | None, pypi: PyPIStats | None) -> dict[str, Any]:
    """The stored columns this fetch has a value for; absent means keep."""
    values: dict[str, Any] = {}
    if repo is not None:
        values.update(
            repo_watchers=repo.watchers,
            repo_forks=repo.forks,
            repo_description=repo.description,
            repo_archived=repo.archived,
        )
        if repo.participants is not None:
            values["participants"] = repo.participants
        if repo.commits_over_52 is not None:
            values["commits_over_52"] = repo.commits_over_52
        if repo.last_updated is not None or repo.empty:
            values["last_updated"] = repo.last_updated
    if pypi is not None and pypi.version is not None:
        values["pypi_version"] = pypi.version
    return values
