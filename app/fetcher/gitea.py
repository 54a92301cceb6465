"""Repository stats from the Gitea API: Codeberg, Forgejo and Gitea instances.

Forgejo keeps Gitea's `/api/v1`, so one client serves the whole family; each
instance has its own client, API base URL and token. Calls, documented at
https://gitea.com/api/swagger and https://forgejo.org/docs/latest/user/api-usage/:

- `/repos/{owner}/{repo}`: `stars_count` (our repo_watchers; `watchers_count`
  counts people following notifications and is not used), `forks_count`,
  `description`, `archived`, `empty`. (`archived_at` is not read: it holds
  the Unix epoch, not null, while a repository is not archived.)
- `/repos/{owner}/{repo}/commits?since=...&limit=50`, following rel="next"
  (Gitea joins Link entries without a space; httpx parses that), counted
  into 52 weeks; the newest commit's committer date is last_updated. 50 is
  the most gitea.com and Codeberg give per page (`max_response_items`).

Participants are not supported: the API has no contributors endpoint
(Django Packages collects commit authors' logins over a repository's whole
history instead, which would mean reading every commit). The column keeps
its stored value.
"""

from datetime import datetime

from app.fetcher.activity import CommitWeeks, walk_commits
from app.fetcher.checks import (
    REST_COMMITS,
    Answer,
    Count,
    Text,
    check,
    moved_ref,
    parse,
)
from app.fetcher.errors import FetchError
from app.fetcher.forge import NO_ACTIVITY, RepoStats, RestForge, api_path
from app.fetcher.http import Reply
from app.packages.repo_url import RepoRef

_LIMIT = 50
# Ask for the commit list alone, without per-commit diffs and signatures.
_LIGHT = {"stat": "false", "verification": "false", "files": "false"}
UNSUPPORTED = frozenset({"participants"})


class _Repository(Answer):
    """GET /repos/{owner}/{repo}: the fields read."""

    stars_count: Count
    forks_count: Count
    description: Text | None = None
    archived: bool = False
    empty: bool = False
    full_name: str | None = None


class GiteaClient(RestForge):
    # https://docs.gitea.com/development/api-usage#authentication
    auth_scheme = "token"

    async def fetch(self, ref: RepoRef) -> RepoStats:
        reply = await self._get(f"{self._api}/repos/{api_path(ref)}")
        stats, empty = _repo_stats(reply, ref)

        if empty:
            stats.empty = True
            stats.commits_over_52 = list(NO_ACTIVITY)
            return stats
        try:
            stats.commits_over_52, stats.last_updated = await self._activity(stats.ref)
        except FetchError as exc:
            stats.errors.append(exc)
        return stats

    async def fetch_activity(self, ref: RepoRef) -> list[int] | None:
        weeks, _ = await self._activity(ref)
        return weeks

    async def _activity(self, ref: RepoRef) -> tuple[list[int], datetime | None]:
        """52 weekly commit counts and the newest commit's date."""
        commits = f"{self._api}/repos/{api_path(ref)}/commits"
        weeks = CommitWeeks()
        await walk_commits(
            self._get,
            commits,
            {"since": weeks.since_param, "limit": _LIMIT, **_LIGHT},
            weeks=weeks,
            max_pages=self._settings.fetch_commit_pages,
            dates=_commit_dates,
        )
        if weeks.newest is not None:
            return weeks.weeks, weeks.newest

        newest = _commit_dates(await self._get(commits, {"limit": 1, **_LIGHT}))
        return weeks.weeks, max(newest, default=None)


def _repo_stats(reply: Reply, asked: RepoRef) -> tuple[RepoStats, bool]:
    """The stats in a repository answer, and whether it has no commits."""
    repo = parse(_Repository, reply)

    ref = asked
    if repo.full_name is not None and repo.full_name.lower() != asked.path.lower():
        ref = moved_ref(reply, asked, "full_name", repo.full_name)
    stats = RepoStats(
        ref=ref,
        watchers=repo.stars_count,
        forks=repo.forks_count,
        description=repo.description or "",
        archived=repo.archived,
        unsupported=UNSUPPORTED,
    )
    return stats, repo.empty


def _commit_dates(reply: Reply) -> list[datetime]:
    commits = check(REST_COMMITS, reply.data, field="", reply=reply)
    return [commit.commit.committer.date for commit in commits]
