"""Repository stats from the GitHub REST API.

Four calls per repository, each documented at
https://docs.github.com/en/rest/repos/repos#get-a-repository and siblings:

- `/repos/{owner}/{repo}`: stars (Django Packages' "watchers"), forks,
  description, archived. A renamed repository answers 301 to
  `/repositories/{id}`; the client follows it and the later calls use the new
  `full_name`.
- `/contributors`: logins, paginated through the Link header.
- `/stats/participation`: 52 weekly commit counts; 202 while GitHub computes.
- `/commits?per_page=1`: the date of the newest commit.

Each of the four is a conditional request (If-None-Match with the ETag of
its last 200): a 304 costs no quota and means "keep what is stored". A
rate limit too long to wait ends the whole fetch (`RateLimited`), so a
repository is never stored half-read because the quota ran out. A 403
saying the contributor list is too large to list keeps the stored
participants and is not an error.

TODO: with a token, GitHub's GraphQL API answers stars, forks, description,
archived state and the newest commit's date of up to 100 repositories in
one query; asking per repository, as here, spends about four calls of the
hourly quota on each package where a batched query would spend a fraction.
"""

from datetime import datetime
from typing import Any, TypeGuard

import httpx
import structlog

from app.config import Settings
from app.fetcher.errors import FetchError, PermanentError, RateLimited
from app.fetcher.forge import NO_ACTIVITY, RepoStats
from app.fetcher.http import Reply, forget_etag, get_json
from app.fetcher.limiter import shared_limiters
from app.packages.repo_url import RepoRef, parse_repo_url

# https://docs.github.com/en/rest/about-the-rest-api/api-versions
_API_VERSION = "2022-11-28"
_PER_PAGE = 100
# GitHub's 403 for a repository whose contributors it will not list.
# https://docs.github.com/en/rest/repos/repos#list-repository-contributors
_TOO_LARGE = "too large to list contributors"

log = structlog.get_logger(__name__)


class GitHubClient:
    def __init__(self, http_client: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http_client
        self._settings = settings
        self._api = settings.github_api_url.rstrip("/")
        self._limiter = shared_limiters(http_client, settings).get("github")
        self._headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": _API_VERSION,
        }
        if settings.github_token is not None:
            token = settings.github_token.get_secret_value()
            self._headers["Authorization"] = f"Bearer {token}"

    async def fetch(self, ref: RepoRef) -> RepoStats:
        stats = await self._repository(ref)
        ref = stats.ref

        try:
            stats.participants = await self._participants(ref)
        except RateLimited:
            raise
        except FetchError as exc:
            stats.errors.append(exc)

        try:
            stats.last_updated, stats.empty = await self._last_commit(ref)
        except RateLimited:
            raise
        except FetchError as exc:
            stats.errors.append(exc)

        try:
            reply = await self._get(
                f"{self._api}/repos/{ref.path}/stats/participation",
                etag_key="participation",
            )
            if not reply.not_modified:
                stats.commits_over_52 = _weeks(reply)
                stats.activity_pending = stats.commits_over_52 is None
        except RateLimited:
            raise
        except FetchError as exc:
            stats.errors.append(exc)

        if stats.empty:
            # An empty repository is a known state, whatever the other
            # endpoints managed to say about it.
            stats.participants = []
            stats.commits_over_52 = list(NO_ACTIVITY)
            stats.activity_pending = False
        return stats

    async def fetch_activity(self, ref: RepoRef) -> list[int] | None:
        # Asked again after a 202, unconditionally: a 304 here could not say
        # "keep" apart from "still computing".
        return _weeks(
            await self._get(f"{self._api}/repos/{ref.path}/stats/participation")
        )

    async def _repository(self, ref: RepoRef) -> RepoStats:
        url = f"{self._api}/repos/{ref.path}"
        reply = await self._get(url, etag_key="repo")
        if reply.not_modified and reply.redirected:
            # Renamed, and unchanged since: the 304 does not say the new
            # name, so ask again in full.
            forget_etag(reply)
            reply = await self._get(url, etag_key="repo")
        if reply.not_modified:
            return RepoStats(
                ref=ref, watchers=None, forks=None, description=None, archived=None
            )
        return _repo_stats(reply, ref)

    async def _participants(self, ref: RepoRef) -> list[str] | None:
        """Contributor logins in GitHub's order, following rel="next" verbatim.

        The next page's URL may change path (`/repositories/{id}/...`), so it
        is used as given. https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
        None (keep the stored logins) when the first page is not modified or
        GitHub will not list the contributors of so large a repository.
        """
        try:
            first = await self._get(
                f"{self._api}/repos/{ref.path}/contributors",
                params={"per_page": _PER_PAGE},
                etag_key="contributors",
            )
        except PermanentError as exc:
            if exc.status == 403 and _TOO_LARGE in str(exc).lower():
                log.info("fetch.contributors_too_large", url=exc.url)
                return None
            raise
        if first.not_modified:
            return None
        try:
            return await self._logins(first)
        except FetchError:
            # The first page's ETag stands for the whole list only when the
            # whole list was read.
            forget_etag(first)
            raise

    async def _logins(self, reply: Reply) -> list[str]:
        logins: dict[str, None] = {}
        pages = 1
        while reply.status != 204:  # an empty repository has no contributors
            if not isinstance(reply.data, list):
                raise _unexpected(reply)
            for entry in reply.data:
                login = entry.get("login") if isinstance(entry, dict) else None
                if isinstance(login, str) and login:
                    logins.setdefault(login)
            url = reply.next_url
            if url is None or pages >= self._settings.fetch_contributor_pages:
                break
            reply, pages = await self._get(url), pages + 1
        return list(logins)

    async def _last_commit(self, ref: RepoRef) -> tuple[datetime | None, bool]:
        """The newest commit's committer date, and whether there are no commits.

        (None, False) after a 304: the stored date stands.
        """
        reply = await self._get(
            f"{self._api}/repos/{ref.path}/commits",
            params={"per_page": 1},
            # 409 "Git Repository is empty." is GitHub's answer for no commits.
            accept=frozenset({409}),
            etag_key="commits",
        )
        if reply.not_modified:
            return None, False
        if reply.status == 409 or reply.data == []:
            return None, True
        try:
            date = reply.data[0]["commit"]["committer"]["date"]
            return datetime.fromisoformat(date), False
        except (TypeError, KeyError, IndexError, ValueError) as exc:
            raise _unexpected(reply) from exc

    async def _get(
        self,
        url: str,
        *,
        params: dict[str, str | int] | None = None,
        accept: frozenset[int] = frozenset(),
        etag_key: str | None = None,
    ) -> Reply:
        return await get_json(
            self._http,
            url,
            settings=self._settings,
            params=params,
            headers=self._headers,
            accept=accept,
            etag_key=etag_key,
            limiter=self._limiter,
        )


def _weeks(reply: Reply) -> list[int] | None:
    """The weekly counts of stats/participation; None while GitHub computes them.

    202: being computed; 204 or {"all": []}: no commits.
    https://docs.github.com/en/rest/metrics/statistics#best-practices-for-caching
    """
    if reply.status == 202:
        return None
    if reply.status == 204:
        return list(NO_ACTIVITY)
    weeks = reply.data.get("all") if isinstance(reply.data, dict) else None
    if weeks == []:
        return list(NO_ACTIVITY)
    if not _is_week_counts(weeks):
        raise _unexpected(reply)
    return list(weeks)


def _repo_stats(reply: Reply, asked: RepoRef) -> RepoStats:
    data = reply.data
    if not isinstance(data, dict):
        raise _unexpected(reply)
    try:
        stars, forks = data["stargazers_count"], data["forks_count"]
    except KeyError as exc:
        raise _unexpected(reply) from exc
    if not isinstance(stars, int) or not isinstance(forks, int):
        raise _unexpected(reply)

    return RepoStats(
        ref=_current_ref(data, asked),
        watchers=stars,
        forks=forks,
        description=data.get("description") or "",
        archived=bool(data.get("archived", False)),
    )


def _current_ref(data: dict[str, Any], asked: RepoRef) -> RepoRef:
    """Where the repository lives now: its html_url, else its full_name."""
    html_url = data.get("html_url")
    if isinstance(html_url, str) and (ref := parse_repo_url(html_url)):
        return ref
    full_name = data.get("full_name")
    if isinstance(full_name, str) and full_name.count("/") == 1:
        return RepoRef(forge="github", host=asked.host, path=full_name)
    return asked


def _is_week_counts(weeks: Any) -> TypeGuard[list[int]]:
    return (
        isinstance(weeks, list)
        and len(weeks) == len(NO_ACTIVITY)
        and all(isinstance(week, int) for week in weeks)
    )


def _unexpected(reply: Reply) -> PermanentError:
    forget_etag(reply)
    return PermanentError("unexpected response", url=reply.url, status=reply.status)
