"""The interface every repository host (GitHub, later GitLab, ...) implements.

A forge client turns a `RepoRef` into `RepoStats`. It raises a `FetchError`
when the repository itself cannot be read; a failing secondary endpoint
(contributors, commits, statistics) leaves its field as None and adds its
error to `RepoStats.errors`, so what did succeed is still stored.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from app.fetcher.errors import FetchError
from app.packages.repo_url import RepoRef

# commits_over_52 for a repository without commits.
NO_ACTIVITY: list[int] = [0] * 52


@dataclass(slots=True)
class RepoStats:
    ref: RepoRef  # where the repository lives now, after any rename
    watchers: int  # stars, as Django Packages labels repo_watchers
    forks: int
    description: str
    archived: bool
    # None in the fields below means "not known this run: keep what is stored".
    participants: list[str] | None = None
    commits_over_52: list[int] | None = None
    last_updated: datetime | None = None
    # The repository has no commits, so last_updated is really null.
    empty: bool = False
    # The host is still computing commit statistics; ask again later.
    activity_pending: bool = False
    errors: list[FetchError] = field(default_factory=list)


class ForgeClient(Protocol):
    async def fetch(self, ref: RepoRef) -> RepoStats:
        """Everything the host knows about the repository; see the module doc."""
        ...

    async def fetch_activity(self, ref: RepoRef) -> list[int] | None:
        """52 weekly commit counts, oldest first; None while still computing."""
        ...
