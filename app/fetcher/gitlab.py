"""Repository stats from the GitLab REST API, for gitlab.com and self-hosted GitLab.

One client per instance, each with its own API base URL and token. Calls,
documented at https://docs.gitlab.com/api/projects/#get-a-single-project and
https://docs.gitlab.com/api/commits/#list-repository-commits:

- `/projects/{path}` with the whole path URL-encoded (`group%2Fsub%2Fname`,
  groups nest): `star_count` (our repo_watchers), `forks_count`,
  `description`, `archived`, `empty_repo`, and the project's numeric id.
- `/projects/{id}/repository/commits?since=...&per_page=100`, following
  rel="next", counted into 52 weeks; the newest commit's `committed_date`
  is last_updated. A project with no commit in the year asks for its one
  newest commit instead.

Participants are not supported: GitLab's contributors endpoint lists commit
author names and e-mail addresses, not accounts, and Django Packages does not
store them for GitLab either. The column keeps its stored value.
"""

from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from pydantic import Field, TypeAdapter

from app.fetcher.activity import CommitWeeks, walk_commits
from app.fetcher.checks import Answer, Count, Text, Time, check, moved_ref, parse
from app.fetcher.errors import FetchError
from app.fetcher.forge import NO_ACTIVITY, RepoStats, RestForge
from app.fetcher.http import Reply
from app.packages.repo_url import RepoRef

# https://docs.gitlab.com/api/rest/#offset-based-pagination
_PER_PAGE = 100
UNSUPPORTED = frozenset({"participants"})


class _Project(Answer):
    """GET /projects/{path}: the fields read."""

    id: Annotated[int, Field(ge=1)]
    star_count: Count
    forks_count: Count
    description: Text | None = None
    archived: bool = False
    empty_repo: bool = False
    path_with_namespace: str | None = None


class _Commit(Answer):
    committed_date: Time


_COMMITS = TypeAdapter(list[_Commit])


class GitLabClient(RestForge):
    # https://docs.gitlab.com/api/rest/authentication/#personalprojectgroup-access-tokens

    async def fetch(self, ref: RepoRef) -> RepoStats:
        reply = await self._get(f"{self._api}/projects/{_encoded(ref.path)}")
        stats, project, empty = _project_stats(reply, ref)

        if empty:
            stats.empty = True
            stats.commits_over_52 = list(NO_ACTIVITY)
            return stats
        try:
            stats.commits_over_52, stats.last_updated = await self._activity(project)
        except FetchError as exc:
            stats.errors.append(exc)
        return stats

    async def fetch_activity(self, ref: RepoRef) -> list[int] | None:
        weeks, _ = await self._activity(_encoded(ref.path))
        return weeks

    async def _activity(self, project: str) -> tuple[list[int], datetime | None]:
        """52 weekly commit counts and the newest commit's date."""
        commits = f"{self._api}/projects/{project}/repository/commits"
        weeks = CommitWeeks()
        await walk_commits(
            self._get,
            commits,
            {"since": weeks.since_param, "per_page": _PER_PAGE},
            weeks=weeks,
            max_pages=self._settings.fetch_commit_pages,
            dates=_commit_dates,
        )
        if weeks.newest is not None:
            return weeks.weeks, weeks.newest

        newest = _commit_dates(await self._get(commits, {"per_page": 1}))
        return weeks.weeks, max(newest, default=None)


def _encoded(path: str) -> str:
    """A project path as GitLab takes it in a URL: one segment, slashes encoded."""
    return quote(path, safe="")


def _project_stats(reply: Reply, asked: RepoRef) -> tuple[RepoStats, str, bool]:
    """The stats in a project, its id for later calls, and whether it is empty."""
    project = parse(_Project, reply)

    path = project.path_with_namespace
    ref = asked
    if path is not None and path != asked.path:
        # Groups nest, so the path may have more than two segments.
        ref = moved_ref(reply, asked, "path_with_namespace", path)
    stats = RepoStats(
        ref=ref,
        watchers=project.star_count,
        forks=project.forks_count,
        description=project.description or "",
        archived=project.archived,
        unsupported=UNSUPPORTED,
    )
    return stats, str(project.id), project.empty_repo


def _commit_dates(reply: Reply) -> list[datetime]:
    commits = check(_COMMITS, reply.data, field="", reply=reply)
    return [commit.committed_date for commit in commits]
