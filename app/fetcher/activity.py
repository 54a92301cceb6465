"""Weekly commit counts for forges that list commits but keep no statistics.

GitHub computes 52 weekly counts itself; GitLab, Bitbucket and Gitea only
list commits, newest first, so their clients read a year of them page by
page and count them here into the same shape: 52 weeks, oldest first, the
last one ending now.

TODO: the pages read are capped (fetch_commit_pages), so a repository with
more commits in a year than the cap allows reads low in its oldest weeks;
a count per week from the forge itself, where one exists, would fix that.
"""

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from app.db.base import utcnow
from app.fetcher.forge import NO_ACTIVITY
from app.fetcher.http import Reply

# One GET of a forge client: URL and query parameters to its answer.
Get = Callable[[str, Mapping[str, str | int] | None], Awaitable[Reply]]

WEEK = timedelta(weeks=1)
WINDOW = WEEK * len(NO_ACTIVITY)


@dataclass(slots=True)
class CommitWeeks:
    """Commit dates counted into the 52 weeks that end at `now`."""

    now: datetime = field(default_factory=lambda: utcnow())
    weeks: list[int] = field(default_factory=lambda: list(NO_ACTIVITY))
    newest: datetime | None = None  # of every commit seen, in the window or not

    @property
    def since(self) -> datetime:
        return self.now - WINDOW

    @property
    def since_param(self) -> str:
        """`since` as a query parameter: ISO 8601 in UTC, to the second."""
        return self.since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def add_page(self, dates: Iterable[datetime]) -> bool:
        """Count one page of commit dates; whether a next page may still count.

        Forges list commits newest first, so a page that reaches past the
        window ends the walk, also where a forge ignores our `since`.
        """
        more = True
        for date in dates:
            if self.newest is None or date > self.newest:
                self.newest = date
            if date <= self.since:
                more = False
                continue
            # A commit dated in the future (a skewed clock) counts as this week.
            age = max(0, (self.now - date) // WEEK)
            self.weeks[len(self.weeks) - 1 - age] += 1
        return more


async def walk_commits(
    get: Get,
    url: str,
    params: Mapping[str, str | int],
    *,
    weeks: CommitWeeks,
    max_pages: int,
    dates: Callable[[Reply], list[datetime]],
    next_url: Callable[[Reply], str | None] = lambda reply: reply.next_url,
) -> None:
    """Count commits into `weeks`, page by page, newest first.

    The next page's URL comes from `next_url` (by default the Link header's
    rel="next") and is used as given, with its own query; the walk ends with the window, the last page or
    `max_pages`.
    """
    page_url: str | None = url
    page_params: Mapping[str, str | int] | None = params
    for _ in range(max_pages):
        if page_url is None:
            return
        reply = await get(page_url, page_params)
        if not weeks.add_page(dates(reply)):
            return
        page_url, page_params = next_url(reply), None
