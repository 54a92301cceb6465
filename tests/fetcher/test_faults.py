"""A whole refresh round against an upstream that misbehaves on purpose.

Forty packages on a stand-in GitHub and PyPI (`misbehaving.py`) that
answer from real captures, except: packages 1 to 7 each meet one fault
every time they ask (a timeout, a connection reset mid-body, a truncated
body, a non-JSON body, a redirect loop, a body announced as 64 MiB, a body
that never ends), three in ten of every other answer is a 5xx, and after
sixty GitHub requests GitHub puts up its rate-limit wall until the reset it
announces. Through that round nothing crashes, no stored value is blanked
or half-written, every error is recorded on its own package and no request
reaches GitHub while the wall stands. Once the faults stop, one more round
makes every package fresh.
"""

import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.fetcher.client import create_http_client
from app.fetcher.refresh import refresh_packages
from app.models import FetchState, Package
from tests.factories import EPOCH, make_package
from tests.fetcher.misbehaving import Answer, Fault, MisbehavingUpstream
from tests.fetcher.support import load

pytestmark = pytest.mark.usefixtures("category")

Maker = async_sessionmaker[AsyncSession]

PACKAGES = 40
MAX_BODY = 2**20
WALL_AFTER = 60  # GitHub requests before the wall goes up

REPO = load("github/repos-sigmavirus24-github3.py.json")["body"]
CONTRIBUTORS = load("github/contributors-pydanny-dj-paginator.json")["body"]
PARTICIPATION = load("github/stats-participation-sigmavirus24-github3.py.json")["body"]
COMMITS = load("github/commits-sigmavirus24-github3.py-per_page-25.json")["body"][:1]
PROJECT = load("pypi/pypi-django-minify-html.json")["body"]

BEFORE: dict[str, Any] = {
    "repo_watchers": 1,
    "repo_forks": 1,
    "repo_description": "before",
    "participants": ["before"],
    "commits_over_52": [1] * 52,
    "last_updated": EPOCH,
    "pypi_version": "0.0.1",
}


def healthy(number: int) -> dict[str, Any]:
    """What package `number` holds once fetched from a well-behaved upstream."""
    return {
        "repo_watchers": 100 + number,
        "repo_forks": 10 + number,
        "repo_description": f"Package {number}",
        "participants": [entry["login"] for entry in CONTRIBUTORS],
        "commits_over_52": PARTICIPATION["all"],
        "last_updated": datetime.fromisoformat(
            COMMITS[0]["commit"]["committer"]["date"]
        ),
        "pypi_version": f"1.{number}.0",
    }


def answer(target: str) -> Answer:
    """The healthy upstream: real captures, renamed for package N."""
    path = target.split("?")[0]
    parts = path.strip("/").split("/")
    if parts[0] == "pypi":
        number = int(parts[1].removeprefix("pkg-"))
        info = {**PROJECT["info"], "version": f"1.{number}.0"}
        return Answer(body={**PROJECT, "info": info})
    number = int(parts[2].removeprefix("pkg-"))
    rest = parts[3:]
    if not rest:
        return Answer(
            body={
                **REPO,
                "name": f"pkg-{number}",
                "full_name": f"fault/pkg-{number}",
                "html_url": f"https://github.com/fault/pkg-{number}",
                "owner": {**REPO["owner"], "login": "fault"},
                "stargazers_count": 100 + number,
                "watchers_count": 100 + number,
                "forks_count": 10 + number,
                "description": f"Package {number}",
                "archived": False,
            }
        )
    if rest == ["contributors"]:
        return Answer(body=CONTRIBUTORS)
    if rest == ["commits"]:
        return Answer(body=COMMITS)
    if rest == ["stats", "participation"]:
        return Answer(body=PARTICIPATION)
    return Answer(status=404, body={"message": "Not Found"})


class Faults:
    """Round one's misbehaviour; `on` False answers everything properly."""

    def __init__(self) -> None:
        self.on = True
        self.url = ""
        self.github_asked = 0
        self.wall_reset: int | None = None  # epoch second the wall comes down
        self.wall_first: float | None = None  # when the first wall answer went out

    def own_faults(self) -> dict[str, Fault]:
        return {
            "/repos/fault/pkg-1": Fault("timeout"),
            "/repos/fault/pkg-2/contributors?per_page=100": Fault("reset"),
            "/repos/fault/pkg-3/stats/participation": Fault("truncate"),
            "/pypi/pkg-4/json": Fault(
                "answer",
                Answer(
                    body=b"<html>Down for maintenance</html>",
                    headers={"Content-Type": "text/html"},
                ),
            ),
            "/repos/fault/pkg-5": Fault(
                "answer",
                Answer(
                    status=301,
                    body={"message": "Moved Permanently"},
                    headers={"Location": f"{self.url}/repos/fault/pkg-5"},
                ),
            ),
            "/pypi/pkg-6/json": Fault("huge_length"),
            "/repos/fault/pkg-7/commits?per_page=1": Fault("huge_stream"),
        }

    def __call__(self, target: str, attempt: int) -> Fault | None:
        if not self.on:
            return None
        own = self.own_faults().get(target)
        if own is not None:
            return own
        number = int(target.split("pkg-")[1].split("/")[0])
        if number <= 7:
            return None
        if target.startswith("/repos/"):
            wall = self._wall()
            if wall is not None:
                return wall
        # Three in ten, the same for the same request and attempt every run.
        draw = hashlib.sha256(f"{target}#{attempt}".encode()).digest()
        if draw[0] < 77:
            status = (500, 502, 503)[draw[1] % 3]
            return Fault("answer", Answer(status=status, body={"message": "oops"}))
        return None

    def _wall(self) -> Fault | None:
        self.github_asked += 1
        now = time.time()
        if self.wall_reset is None and self.github_asked >= WALL_AFTER:
            self.wall_reset = int(now) + 2
        if self.wall_reset is None or now >= self.wall_reset:
            return None
        if self.wall_first is None:
            self.wall_first = now
        return Fault(
            "answer",
            Answer(
                status=403,
                body={"message": "API rate limit exceeded for 127.0.0.1."},
                headers={
                    "X-RateLimit-Limit": "60",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(self.wall_reset),
                },
            ),
        )


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def upstream_at_fault(faults: Faults) -> Iterator[MisbehavingUpstream]:
    with MisbehavingUpstream(answer, faults, stall=1.5) as server:
        faults.url = server.url
        yield server


@pytest.fixture
def fault_settings(
    settings: Settings, upstream_at_fault: MisbehavingUpstream
) -> Settings:
    return settings.model_copy(
        update={
            "github_api_url": upstream_at_fault.url,
            "pypi_url": upstream_at_fault.url,
            "fetch_concurrency": 8,
            "fetch_timeout": 0.4,
            "fetch_retries": 3,
            "fetch_max_body": MAX_BODY,
            # Long enough to wait the wall out within the round.
            "fetch_rate_limit_max_wait": 5.0,
        }
    )


@pytest.fixture
async def fault_client(fault_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with create_http_client(fault_settings) as client:
        yield client


@pytest.fixture
async def catalogue(sessionmaker: Maker, category: None) -> None:
    for number in range(1, PACKAGES + 1):
        await make_package(
            sessionmaker,
            id=number,
            repo_url=f"https://github.com/fault/pkg-{number}",
            pypi_url=f"https://pypi.org/project/pkg-{number}/",
            **BEFORE,
        )


async def all_packages(sessionmaker: Maker) -> list[Package]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(Package).order_by(Package.id)))


async def errors_by_source(sessionmaker: Maker) -> dict[tuple[int, str], str | None]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(FetchState.package_id, FetchState.source, FetchState.last_error)
        )
        return {(row.package_id, row.source): row.last_error for row in rows}


def values(package: Package) -> dict[str, Any]:
    return {column: getattr(package, column) for column in BEFORE}


@pytest.mark.usefixtures("catalogue")
async def test_a_round_through_every_fault_loses_nothing_and_the_next_heals(
    fault_settings: Settings,
    sessionmaker: Maker,
    fault_client: httpx.AsyncClient,
    upstream_at_fault: MisbehavingUpstream,
    faults: Faults,
) -> None:
    summary = await refresh_packages(fault_settings, sessionmaker, fault_client)

    assert summary.total == PACKAGES
    assert summary.rate_limited == 0  # the wall was waited out
    packages = await all_packages(sessionmaker)
    errors = await errors_by_source(sessionmaker)

    # Each package's own fault, recorded on it and on the source it hit.
    refused_length = f"refused: answer of {64 * 2**20} bytes, longer than {MAX_BODY}"
    own = {
        1: ("repo", "transient: timeout"),
        2: ("repo", "transient: connection failed"),
        3: ("repo", "transient: connection failed"),
        4: ("pypi", "transient: malformed JSON"),
        5: ("repo", "too many redirects"),
        6: ("pypi", refused_length),
        7: ("repo", f"refused: answer longer than {MAX_BODY} bytes"),
    }
    for number, (source, message) in own.items():
        package = packages[number - 1]
        assert (package.last_exception, package.last_exception_count) == (message, 1)
        assert errors[(number, source)] == message

    # The parts a fault cut short are kept as they were, whole; the rest is new.
    expect = {n: healthy(n) for n in range(1, PACKAGES + 1)}
    kept = {
        1: (
            "repo_watchers",
            "repo_forks",
            "repo_description",
            "participants",
            "commits_over_52",
            "last_updated",
        ),
        2: ("participants",),
        3: ("commits_over_52",),
        4: ("pypi_version",),
        5: (
            "repo_watchers",
            "repo_forks",
            "repo_description",
            "participants",
            "commits_over_52",
            "last_updated",
        ),
        6: ("pypi_version",),
        7: ("last_updated",),
    }
    for number, columns in kept.items():
        for column in columns:
            expect[number][column] = BEFORE[column]
        assert values(packages[number - 1]) == expect[number]

    # Every other package: each value either as before or as fetched, never
    # blank; an error recorded whenever a part was not fetched.
    for package in packages[7:]:
        now = values(package)
        fresh = healthy(package.id)
        for column, value in now.items():
            assert value in (BEFORE[column], fresh[column]), (package.id, column)
        if now != fresh:
            assert package.last_exception is not None
            assert package.last_exception.startswith("transient: 50")
            assert package.last_exception_count == 1
        else:
            assert (package.last_exception, package.last_exception_count) == (None, 0)
    assert not any(
        (package.last_exception or "").startswith("internal error")
        for package in packages
    )

    # The wall went up, and nothing was asked of GitHub until its reset.
    assert faults.wall_first is not None and faults.wall_reset is not None
    during_wall = [
        path
        for at, path in upstream_at_fault.log
        if path.startswith("/repos/")
        and faults.wall_first + 0.2 < at < faults.wall_reset
    ]
    assert during_wall == []

    # The faults stop; one more round and every package is fresh.
    faults.on = False
    summary = await refresh_packages(fault_settings, sessionmaker, fault_client)
    assert (summary.failed, summary.rate_limited) == (0, 0)
    for package in await all_packages(sessionmaker):
        assert values(package) == healthy(package.id)
        assert (package.last_exception_count, package.last_fetched is not None) == (
            0,
            True,
        )


@pytest.mark.usefixtures("catalogue")
async def test_a_wall_without_reset_headers_pauses_github_for_the_round(
    fault_settings: Settings,
    sessionmaker: Maker,
    upstream_at_fault: MisbehavingUpstream,
    faults: Faults,
) -> None:
    # No reset and no Retry-After: GitHub's rule for a secondary limit is to
    # wait at least a minute, longer than this refresher may wait.
    short = fault_settings.model_copy(update={"fetch_rate_limit_max_wait": 0.5})
    asked = 0
    first_wall: list[float] = []

    def bare_wall(target: str, attempt: int) -> Fault | None:
        nonlocal asked
        if not target.startswith("/repos/"):
            return None
        asked += 1
        if asked < 10:
            return None
        if not first_wall:
            first_wall.append(time.time())
        return Fault("answer", Answer(status=429, body={"message": "slow down"}))

    with MisbehavingUpstream(answer, bare_wall) as server:
        own = short.model_copy(
            update={"github_api_url": server.url, "pypi_url": server.url}
        )
        async with create_http_client(own) as client:
            summary = await refresh_packages(own, sessionmaker, client)
        log = list(server.log)

    assert first_wall
    late = [
        path
        for at, path in log
        if path.startswith("/repos/") and at > first_wall[0] + 0.2
    ]
    assert late == []
    assert summary.total == PACKAGES
    assert summary.failed == 0
    assert summary.rate_limited > 0
    packages = await all_packages(sessionmaker)
    postponed = [p for p in packages if p.repo_watchers == BEFORE["repo_watchers"]]
    assert len(postponed) >= summary.rate_limited
    for package in postponed:
        # Held back whole, and not counted against the package.
        assert {c: getattr(package, c) for c in BEFORE if c != "pypi_version"} == {
            c: v for c, v in BEFORE.items() if c != "pypi_version"
        }
        assert (package.last_exception, package.last_exception_count) == (None, 0)
