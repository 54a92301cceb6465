"""Repository stats from the GitHub REST API, and its GraphQL API with a token.

Four REST calls per repository, each documented at
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

With a token, `prefetch` first asks GitHub's GraphQL API (which needs one)
for the repository fields and the newest commit's date of a whole batch, up
to 100 repositories per query; `fetch` then skips `/repos/{owner}/{repo}`
and `/commits` for every repository the query answered. One it could not
answer (NOT_FOUND, any other error, a malformed entry) is read through REST,
so the 404, blocked and rename rules stay those of REST; so is the whole
batch when the query itself fails.
https://docs.github.com/en/graphql/reference/objects#repository
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import httpx
import structlog
from pydantic import TypeAdapter

from app.config import Settings
from app.fetcher.checks import (
    REST_COMMITS,
    Answer,
    Count,
    Text,
    Time,
    Weeks,
    check,
    moved_ref,
    parse,
    sift,
    unexpected,
)
from app.fetcher.errors import (
    FetchError,
    PermanentError,
    RateLimited,
    clean_error_text,
)
from app.fetcher.forge import NO_ACTIVITY, RepoStats, api_path
from app.fetcher.http import Reply, forget_etag, get_json, post_json
from app.fetcher.limiter import shared_limiters
from app.packages.repo_url import RepoRef, parse_repo_url

# https://docs.github.com/en/rest/about-the-rest-api/api-versions
_API_VERSION = "2022-11-28"
_PER_PAGE = 100
# GitHub's 403 for a repository whose contributors it will not list.
# https://docs.github.com/en/rest/repos/repos#list-repository-contributors
_TOO_LARGE = "too large to list contributors"
# Repositories per GraphQL query. Lookups are no connections, so a query of
# them costs one point of the GraphQL quota; 100 keep each answer small.
# https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api
_GRAPHQL_BATCH = 100
_CORE_FIELDS = """
fragment core on Repository {
  nameWithOwner
  url
  stargazerCount
  forkCount
  description
  isArchived
  isEmpty
  defaultBranchRef { target { ... on Commit { committedDate } } }
}
"""

log = structlog.get_logger(__name__)


class _Repository(Answer):
    """GET /repos/{owner}/{repo}: the fields read."""

    stargazers_count: Count
    forks_count: Count
    description: Text | None = None
    archived: bool = False
    full_name: str | None = None
    html_url: str | None = None


class _Target(Answer):
    committedDate: Time | None = None  # absent when the target is no commit


class _BranchRef(Answer):
    target: _Target | None = None


class _Node(Answer):
    """A repository as the GraphQL query's `core` fragment answers it."""

    nameWithOwner: str | None = None
    url: str | None = None
    stargazerCount: Count
    forkCount: Count
    description: Text | None = None
    isArchived: bool = False
    isEmpty: bool = False
    defaultBranchRef: _BranchRef | None = None


_NODE = TypeAdapter(_Node)
_WEEKS: TypeAdapter[list[int]] = TypeAdapter(Weeks)
# A contributor's login, as the participants column may hold it.
_LOGIN: TypeAdapter[str] = TypeAdapter(Text)


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
        self._token: str | None = None
        if settings.github_token is not None:
            self._token = settings.github_token.get_secret_value()
            self._headers["Authorization"] = f"Bearer {self._token}"
        # Repository fields the GraphQL query answered, by lowercased path.
        self._prefetched: dict[str, RepoStats] = {}

    async def prefetch(self, refs: Iterable[RepoRef]) -> None:
        """Read the repository fields of `refs` in GraphQL batches, for `fetch`.

        Does nothing without a token. A failed query is logged once and ends
        the prefetch: the repositories not yet answered are read through REST,
        as are all of them after a rate limit too long to wait.
        """
        if self._token is None:
            return
        todo = list({ref.path.lower(): ref for ref in refs}.values())
        for start in range(0, len(todo), _GRAPHQL_BATCH):
            batch = todo[start : start + _GRAPHQL_BATCH]
            try:
                answered = await self._query(batch)
            except RateLimited:
                # The limiter logged the pause; REST calls wait on it too.
                return
            except FetchError as exc:
                log.warning(
                    "fetch.graphql_failed",
                    url=exc.url,
                    status=exc.status,
                    error=clean_error_text(str(exc), [self._token]),
                    repositories=len(todo) - start,
                )
                return
            self._prefetched.update(answered)

    async def fetch(self, ref: RepoRef) -> RepoStats:
        prefetched = self._prefetched.pop(ref.path.lower(), None)
        stats = prefetched if prefetched is not None else await self._repository(ref)
        ref = stats.ref

        try:
            stats.participants = await self._participants(ref)
        except RateLimited:
            raise
        except FetchError as exc:
            stats.errors.append(exc)

        try:
            if prefetched is None:  # else the query answered it already
                stats.last_updated, stats.empty = await self._last_commit(ref)
        except RateLimited:
            raise
        except FetchError as exc:
            stats.errors.append(exc)

        try:
            reply = await self._get(
                f"{self._api}/repos/{api_path(ref)}/stats/participation",
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
            await self._get(f"{self._api}/repos/{api_path(ref)}/stats/participation")
        )

    async def _repository(self, ref: RepoRef) -> RepoStats:
        url = f"{self._api}/repos/{api_path(ref)}"
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
                f"{self._api}/repos/{api_path(ref)}/contributors",
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
                raise unexpected(reply)
            # Anonymous contributors have no login; a login outside the
            # limits is left out like them (see app.fetcher.checks).
            named = [
                entry["login"]
                for entry in reply.data
                if isinstance(entry, dict) and entry.get("login")
            ]
            kept = sift(_LOGIN, named)
            if len(kept) < len(named):
                log.info(
                    "fetch.logins_dropped",
                    url=reply.url,
                    dropped=len(named) - len(kept),
                )
            logins.update(dict.fromkeys(kept))
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
            f"{self._api}/repos/{api_path(ref)}/commits",
            params={"per_page": 1},
            # 409 "Git Repository is empty." is GitHub's answer for no commits.
            accept=frozenset({409}),
            etag_key="commits",
        )
        if reply.not_modified:
            return None, False
        if reply.status == 409 or reply.data == []:
            return None, True
        commits = check(REST_COMMITS, reply.data, field="", reply=reply)
        return commits[0].commit.committer.date, False

    async def _query(self, refs: list[RepoRef]) -> dict[str, RepoStats]:
        """One GraphQL query for `refs`: the stats of those it answered, by path."""
        lookups = "\n".join(
            f"  r{n}: repository(owner: $owner{n}, name: $name{n}) {{ ...core }}"
            for n in range(len(refs))
        )
        variables: dict[str, str] = {}
        for n, ref in enumerate(refs):
            variables |= {f"owner{n}": ref.owner, f"name{n}": ref.name}
        declared = ", ".join(f"${name}: String!" for name in variables)
        reply = await post_json(
            self._http,
            f"{self._api}/graphql",
            {
                "query": f"query({declared}) {{\n{lookups}\n}}\n{_CORE_FIELDS}",
                "variables": variables,
            },
            settings=self._settings,
            headers=self._headers,
            limiter=self._limiter,
        )

        # https://docs.github.com/en/graphql/guides/forming-calls-with-graphql#communicating-with-graphql
        # A repository it cannot resolve is null under its alias, with an
        # `errors` entry (type NOT_FOUND, path [alias]) saying why.
        data = reply.data.get("data") if isinstance(reply.data, dict) else None
        if not isinstance(data, dict):
            raise PermanentError(
                f"unexpected GraphQL response: {_graphql_message(reply.data)}",
                url=reply.url,
                status=reply.status,
            )
        answered: dict[str, RepoStats] = {}
        for n, ref in enumerate(refs):
            stats = _graphql_stats(reply, data.get(f"r{n}"), ref)
            if stats is not None:
                answered[ref.path.lower()] = stats
        return answered

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
    return check(_WEEKS, weeks, field="all", reply=reply)


def _repo_stats(reply: Reply, asked: RepoRef) -> RepoStats:
    repo = parse(_Repository, reply)
    return RepoStats(
        ref=_current_ref(reply, repo.html_url, repo.full_name, asked),
        watchers=repo.stargazers_count,
        forks=repo.forks_count,
        description=repo.description or "",
        archived=repo.archived,
    )


def _graphql_stats(reply: Reply, node: Any, asked: RepoRef) -> RepoStats | None:
    """A repository as the GraphQL query answered it; None when it did not.

    Also None for an entry outside the limits (app.fetcher.checks): REST
    then reads the repository, and its answer says what is wrong.
    """
    if node is None:
        return None
    try:
        repo = check(_NODE, node, field="repository", reply=reply)
        ref = _current_ref(reply, repo.url, repo.nameWithOwner, asked)
    except PermanentError:
        return None

    target = repo.defaultBranchRef.target if repo.defaultBranchRef else None
    return RepoStats(
        ref=ref,
        watchers=repo.stargazerCount,
        forks=repo.forkCount,
        description=repo.description or "",
        archived=repo.isArchived,
        # No default branch, or not a commit at its head: keep what is stored.
        last_updated=None if repo.isEmpty or target is None else target.committedDate,
        empty=repo.isEmpty,
    )


def _graphql_message(body: Any) -> str:
    """The first GraphQL error message of a body, for the log."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message", "no data"))
    return "no data"


def _current_ref(
    reply: Reply, html_url: str | None, full_name: str | None, asked: RepoRef
) -> RepoRef:
    """Where the repository lives now: its html_url when that names a
    repository on github.com, else its full_name; as asked when it says neither.

    The path goes into the later calls' URLs, so a full_name that is no
    well-formed owner/name makes the answer malformed (`moved_ref`).
    """
    ref = parse_repo_url(html_url) if html_url is not None else None
    if ref is not None and ref.host == asked.host:
        return moved_ref(reply, asked, "html_url", ref.path)
    if full_name is not None:
        return moved_ref(reply, asked, "full_name", full_name)
    return asked
