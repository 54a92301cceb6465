"""The interface every repository host (GitHub, GitLab, ...) implements.

A forge client turns a `RepoRef` into `RepoStats`. It raises a `FetchError`
when the repository itself cannot be read; a failing secondary endpoint
(contributors, commits, statistics) leaves its field as None and adds its
error to `RepoStats.errors`, so what did succeed is still stored.

A forge that has no such thing as one of our fields (Bitbucket has no
stars) names the package column in `RepoStats.unsupported`; that column
keeps its stored value, as Django Packages keeps it, instead of a made-up one.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from app.config import Settings
from app.fetcher.errors import FetchError
from app.fetcher.http import Reply, get_json
from app.packages.repo_url import RepoRef

# commits_over_52 for a repository without commits.
NO_ACTIVITY: list[int] = [0] * 52


@dataclass(slots=True)
class RepoStats:
    ref: RepoRef  # where the repository lives now, after any rename
    # None in every field below means "not known this run: keep what is
    # stored"; the first four are None only after a 304 (not modified).
    watchers: int | None  # stars, as Django Packages labels repo_watchers
    forks: int | None
    description: str | None
    archived: bool | None
    participants: list[str] | None = None
    commits_over_52: list[int] | None = None
    last_updated: datetime | None = None
    # The repository has no commits, so last_updated is really null.
    empty: bool = False
    # The host is still computing commit statistics; ask again later.
    activity_pending: bool = False
    errors: list[FetchError] = field(default_factory=list)
    # Package columns this forge cannot supply ("repo_watchers", "participants").
    unsupported: frozenset[str] = frozenset()


class ForgeClient(Protocol):
    async def fetch(self, ref: RepoRef) -> RepoStats:
        """Everything the host knows about the repository; see the module doc."""
        ...

    async def fetch_activity(self, ref: RepoRef) -> list[int] | None:
        """52 weekly commit counts, oldest first; None while still computing."""
        ...


def api_path(ref: RepoRef) -> str:
    """`ref.path` as it goes into an API URL: each segment percent-encoded.

    Paths are checked when they are read (`is_repo_path`); encoding them
    too means no character in one can ever start a new segment or a query.
    """
    return "/".join(quote(segment, safe="") for segment in ref.path.split("/"))


class RestForge:
    """What the GitLab, Bitbucket and Gitea clients share: a base URL, an
    optional token sent as `Authorization: <scheme> <token>`, and GETs
    through the one place that classifies failures."""

    auth_scheme = "Bearer"

    def __init__(
        self,
        http_client: httpx.AsyncClient,
        settings: Settings,
        *,
        api_url: str,
        token: SecretStr | None,
    ) -> None:
        self._http = http_client
        self._settings = settings
        self._api = api_url.rstrip("/")
        self._headers = (
            {"Authorization": f"{self.auth_scheme} {token.get_secret_value()}"}
            if token
            else {}
        )

    async def _get(
        self, url: str, params: Mapping[str, str | int] | None = None
    ) -> Reply:
        return await get_json(
            self._http,
            url,
            settings=self._settings,
            params=params,
            headers=self._headers,
        )
