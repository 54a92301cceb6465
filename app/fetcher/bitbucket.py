"""Repository stats from the Bitbucket Cloud REST API 2.0.

Calls, documented at
https://developer.atlassian.com/cloud/bitbucket/rest/api-group-repositories/
and https://developer.atlassian.com/cloud/bitbucket/rest/api-group-commits/:

- `/repositories/{workspace}/{slug}`: `description`, and `full_name` for
  where the repository lives now.
- `/forks?pagelen=1`: the fork count is the page's `size`.
- `/commits?pagelen=100`, following the body's `next` URL: Bitbucket has no
  `since`, so pages are read newest first until one reaches past the year;
  the first commit's `date` is last_updated, and no commits at all is an
  empty repository. https://developer.atlassian.com/cloud/bitbucket/rest/intro/#pagination

Bitbucket cannot supply three of our fields, so they keep their stored
values and are listed in `RepoStats.unsupported`:

- repo_watchers: Bitbucket has no stars. Its "watchers" are people
  following notifications, which is GitHub's subscribers_count, not stars;
  Django Packages' repo_watchers means stars, so they are not used.
- participants: there is no contributors endpoint. (Django Packages stores
  the workspace name there, which names an owner, not contributors.)
- repo_archived: Bitbucket repositories have no archived state.
"""

from datetime import datetime

from app.fetcher.activity import CommitWeeks, walk_commits
from app.fetcher.checks import Answer, Count, Text, Time, moved_ref, parse
from app.fetcher.errors import FetchError
from app.fetcher.forge import NO_ACTIVITY, RepoStats, RestForge, api_path
from app.fetcher.http import Reply
from app.packages.repo_url import RepoRef

_PAGELEN = 100  # the most Bitbucket gives per page of commits
UNSUPPORTED = frozenset({"repo_watchers", "participants", "repo_archived"})


class _Repository(Answer):
    """GET /repositories/{workspace}/{slug}: the fields read."""

    description: Text | None = None
    full_name: str | None = None


class _Forks(Answer):
    size: Count


class _Commit(Answer):
    date: Time


class _Commits(Answer):
    """A page of GET .../commits: its commits, and the next page's URL."""

    values: list[_Commit]
    next: str | None = None


class BitbucketClient(RestForge):
    # Repository, project and workspace access tokens are bearer tokens.
    # https://developer.atlassian.com/cloud/bitbucket/rest/intro/#access-tokens

    async def fetch(self, ref: RepoRef) -> RepoStats:
        reply = await self._get(f"{self._api}/repositories/{api_path(ref)}")
        repo = parse(_Repository, reply)
        if repo.full_name is not None and repo.full_name.lower() != ref.path.lower():
            ref = moved_ref(reply, ref, "full_name", repo.full_name)
        # Without its fork count the repository is not read: a count is kept
        # only when the whole answer is known.
        forks = await self._forks(ref)

        stats = RepoStats(
            ref=ref,
            watchers=0,
            forks=forks,
            description=repo.description or "",
            archived=False,
            unsupported=UNSUPPORTED,
        )
        try:
            weeks = await self._walk(ref)
        except FetchError as exc:
            stats.errors.append(exc)
            return stats

        stats.commits_over_52 = weeks.weeks
        stats.last_updated = weeks.newest
        stats.empty = weeks.newest is None
        if stats.empty:
            stats.commits_over_52 = list(NO_ACTIVITY)
        return stats

    async def fetch_activity(self, ref: RepoRef) -> list[int] | None:
        return (await self._walk(ref)).weeks

    async def _forks(self, ref: RepoRef) -> int:
        reply = await self._get(
            f"{self._api}/repositories/{api_path(ref)}/forks", {"pagelen": 1}
        )
        return parse(_Forks, reply).size

    async def _walk(self, ref: RepoRef) -> CommitWeeks:
        weeks = CommitWeeks()
        await walk_commits(
            self._get,
            f"{self._api}/repositories/{api_path(ref)}/commits",
            {"pagelen": _PAGELEN},
            weeks=weeks,
            max_pages=self._settings.fetch_commit_pages,
            dates=_commit_dates,
            next_url=_next_url,
        )
        return weeks


def _commit_dates(reply: Reply) -> list[datetime]:
    return [commit.date for commit in parse(_Commits, reply).values]


def _next_url(reply: Reply) -> str | None:
    """Bitbucket pages name their successor in the body, not in a Link header."""
    following = reply.data.get("next") if isinstance(reply.data, dict) else None
    return following if isinstance(following, str) else None
