"""GitHub: repository stats against a stand-in GitHub API on loopback."""

import asyncio
import threading
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from werkzeug import Request, Response

from app.config import Settings
from app.fetcher.client import create_http_client
from app.fetcher.forge import NO_ACTIVITY
from app.fetcher.refresh import STATS_PENDING_NOTE, refresh_packages
from app.models import Package
from tests.factories import EPOCH, make_package
from tests.fetcher.support import (
    Slow,
    base_url,
    hits,
    json_response,
    load,
    replay,
    stored,
)

pytestmark = pytest.mark.usefixtures("category")

GITHUB3 = "/repos/sigmavirus24/github3.py"
GITHUB3_WEEKS = load("github/stats-participation-sigmavirus24-github3.py.json")["body"][
    "all"
]
EXAMPLE = "/repos/example-org/example-repo"
OLD_WEEKS = [0] * 49 + [1, 2, 3]


def serve_github3(upstream: HTTPServer) -> None:
    """Every answer for sigmavirus24/github3.py, as GitHub gave them in 2018."""
    upstream.expect_request(GITHUB3).respond_with_response(
        replay(upstream, "github/repos-sigmavirus24-github3.py.json")
    )
    upstream.expect_request(
        f"{GITHUB3}/contributors", query_string={"per_page": "100"}
    ).respond_with_response(
        replay(
            upstream,
            "github/contributors-sigmavirus24-github3.py-per_page-100-page1.json",
        )
    )
    upstream.expect_request(
        "/repositories/3710711/contributors",
        query_string={"per_page": "100", "page": "2"},
    ).respond_with_response(
        replay(
            upstream,
            "github/contributors-sigmavirus24-github3.py-per_page-100-page2.json",
        )
    )
    upstream.expect_request(f"{GITHUB3}/stats/participation").respond_with_response(
        replay(upstream, "github/stats-participation-sigmavirus24-github3.py.json")
    )
    # The capture asked for 25 commits; only the newest one is read.
    upstream.expect_request(
        f"{GITHUB3}/commits", query_string={"per_page": "1"}
    ).respond_with_response(
        replay(upstream, "github/commits-sigmavirus24-github3.py-per_page-25.json")
    )  # fmt: skip


def serve_repo(
    upstream: HTTPServer,
    path: str = EXAMPLE,
    *,
    stars: int = 5,
    forks: int = 1,
    description: str | None = "placeholder",
    weeks: list[int] | None = None,
) -> None:
    """A small healthy repository: one contributor, one commit, given weeks."""
    name = path.removeprefix("/repos/")
    upstream.expect_request(path).respond_with_response(
        json_response(
            {
                "full_name": name,
                "html_url": f"https://github.com/{name}",
                "stargazers_count": stars,
                "forks_count": forks,
                "description": description,
                "archived": False,
            }
        )
    )
    upstream.expect_request(f"{path}/contributors").respond_with_response(
        json_response([{"login": "contributor-a", "type": "User"}])
    )
    upstream.expect_request(f"{path}/commits").respond_with_response(
        json_response([{"commit": {"committer": {"date": "2025-01-09T12:00:00Z"}}}])
    )
    upstream.expect_request(f"{path}/stats/participation").respond_with_response(
        json_response({"all": weeks or NO_ACTIVITY, "owner": NO_ACTIVITY})
    )


async def test_a_repository_is_read_from_every_endpoint(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker, id=1, repo_url="https://github.com/sigmavirus24/github3.py"
    )
    serve_github3(upstream)

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (summary.updated, summary.unchanged, summary.failed) == (1, 0, 0)
    assert package.repo_watchers == 744
    assert package.repo_forks == 278
    assert package.repo_description == (
        "Python library for interfacing with the GitHub APIv3"
    )
    assert package.repo_archived is False
    assert len(package.participants) == 102
    assert package.participants[:2] == ["sigmavirus24", "itsmemattchung"]
    assert package.participants[-2:] == ["ministrike3", "no3am"]
    assert package.commits_over_52 == GITHUB3_WEEKS
    assert package.last_updated == datetime(2017, 12, 29, 2, 41, 15, tzinfo=UTC)
    assert package.last_fetched is not None
    assert (package.last_exception, package.last_exception_count) == (None, 0)
    assert package.modified == EPOCH
    assert package.repo_url == "https://github.com/sigmavirus24/github3.py"


async def test_a_second_run_with_the_same_answers_is_unchanged(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker, id=1, repo_url="https://github.com/sigmavirus24/github3.py"
    )
    serve_github3(upstream)
    await refresh_packages(fetch_settings, sessionmaker, http_client)
    first = await stored(sessionmaker, 1)

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    second = await stored(sessionmaker, 1)
    assert (summary.updated, summary.unchanged, summary.failed) == (0, 1, 0)
    assert first.last_fetched is not None and second.last_fetched is not None
    assert second.last_fetched > first.last_fetched
    assert second.participants == first.participants


async def test_contributors_follow_rel_next_whatever_its_position(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    # Case 008: pages 2 and 3 live under /repositories/{id}/, page 2 lists
    # rel="prev" before rel="next", and page 3 repeats a login of page 1.
    await make_package(
        sessionmaker,
        id=7001,
        repo_url="https://github.com/example-org/example-repo",
        participants=["contributor-001"],
    )
    serve_repo_without_contributors(upstream)
    pages = f"{base_url(upstream)}/repositories/123456789/contributors?per_page=100"
    logins = [f"contributor-{n:03}" for n in range(1, 205)]

    def page(logins_on_page: list[str], links: dict[str, int]) -> Response:
        body = [{"login": login, "type": "User"} for login in logins_on_page]
        link = ", ".join(f'<{pages}&page={n}>; rel="{rel}"' for rel, n in links.items())
        return json_response(body, headers={"Link": link})

    upstream.expect_request(
        f"{EXAMPLE}/contributors", query_string={"per_page": "100"}
    ).respond_with_response(page(logins[:100], {"next": 2, "last": 3}))
    upstream.expect_request(
        "/repositories/123456789/contributors",
        query_string={"per_page": "100", "page": "2"},
    ).respond_with_response(
        page(logins[100:200], {"prev": 1, "next": 3, "last": 3, "first": 1})
    )
    upstream.expect_request(
        "/repositories/123456789/contributors",
        query_string={"per_page": "100", "page": "3"},
    ).respond_with_response(
        json_response(
            [{"login": login, "type": "User"} for login in logins[200:]]
            + [{"login": "contributor-100", "type": "User"}, {"type": "Anonymous"}],
            headers={"Link": f'<{pages}&page=2>; rel="prev", <{pages}&page=1>; rel="first"'},
        )
    )  # fmt: skip

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 7001)
    assert package.participants == logins
    assert len(package.participants) == 204
    first, second, third = hits(upstream, f"{EXAMPLE}/contributors") + hits(
        upstream, "/repositories/123456789/contributors"
    )
    assert first.args.to_dict() == {"per_page": "100"}
    assert second.args.to_dict() == {"per_page": "100", "page": "2"}
    assert third.args.to_dict() == {"per_page": "100", "page": "3"}
    assert package.last_exception is None


async def test_the_contributor_page_cap_is_not_an_error(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker, id=1, repo_url="https://github.com/sigmavirus24/github3.py"
    )
    serve_github3(upstream)
    capped = fetch_settings.model_copy(update={"fetch_contributor_pages": 1})

    summary = await refresh_packages(capped, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert len(package.participants) == 100
    assert package.participants[-1] == "matiasb"
    assert hits(upstream, "/repositories/3710711/contributors") == []
    assert (summary.updated, summary.failed) == (1, 0)


def serve_repo_without_contributors(upstream: HTTPServer) -> None:
    """serve_repo, less the contributors endpoint, for tests that page it."""
    upstream.expect_request(EXAMPLE).respond_with_response(
        json_response(
            {
                "full_name": "example-org/example-repo",
                "html_url": "https://github.com/example-org/example-repo",
                "stargazers_count": 5,
                "forks_count": 1,
                "description": "placeholder",
            }
        )
    )
    upstream.expect_request(f"{EXAMPLE}/commits").respond_with_response(
        json_response([{"commit": {"committer": {"date": "2025-01-09T12:00:00Z"}}}])
    )
    upstream.expect_request(f"{EXAMPLE}/stats/participation").respond_with_response(
        json_response({"all": NO_ACTIVITY})
    )


async def test_statistics_answering_202_are_asked_again(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    # Case 001: 202, 202, then the weeks; the 202 body {} is never data.
    await make_package(
        sessionmaker,
        id=2403,
        repo_url="https://github.com/example-org/example-repo",
        commits_over_52=OLD_WEEKS,
    )
    accepted = replay(
        upstream, "github/stats-commit_activity-sigmavirus24-github3.py-202.json"
    )
    for _ in range(2):
        upstream.expect_oneshot_request(
            f"{EXAMPLE}/stats/participation"
        ).respond_with_response(accepted)
    serve_repo(upstream, weeks=[0] * 50 + [4, 7])  # fmt: skip

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 2403)
    assert package.commits_over_52 == [0] * 50 + [4, 7]
    assert len(hits(upstream, f"{EXAMPLE}/stats/participation")) == 3
    assert (package.last_exception, package.last_exception_count) == (None, 0)
    assert (summary.updated, summary.failed) == (1, 0)


async def test_statistics_never_ready_keep_the_stored_weeks(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    # Case 001, variant: 202 on every attempt. Stars and forks still land.
    await make_package(
        sessionmaker,
        id=2403,
        repo_url="https://github.com/example-org/example-repo",
        commits_over_52=OLD_WEEKS,
        repo_watchers=1,
    )
    upstream.expect_request(f"{EXAMPLE}/stats/participation").respond_with_response(
        json_response({}, status=202)
    )
    serve_repo(upstream, stars=42)
    patient = fetch_settings.model_copy(update={"fetch_stats_attempts": 3})

    summary = await refresh_packages(patient, sessionmaker, http_client)

    package = await stored(sessionmaker, 2403)
    assert package.commits_over_52 == OLD_WEEKS
    assert package.repo_watchers == 42
    assert len(hits(upstream, f"{EXAMPLE}/stats/participation")) == 3
    assert package.last_exception == STATS_PENDING_NOTE
    assert package.last_exception_count == 0
    assert package.last_fetched is not None
    assert (summary.updated, summary.failed) == (1, 0)


async def test_waiting_for_statistics_does_not_hold_a_slot(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker, id=1, repo_url="https://github.com/example-org/example-repo"
    )
    await make_package(
        sessionmaker, id=2, repo_url="https://github.com/example-org/other-repo"
    )
    upstream.expect_oneshot_request(
        f"{EXAMPLE}/stats/participation"
    ).respond_with_response(json_response({}, status=202))
    serve_repo(upstream, weeks=[0] * 51 + [9])
    serve_repo(upstream, "/repos/example-org/other-repo", stars=7)
    one_slot = fetch_settings.model_copy(
        update={"fetch_concurrency": 1, "fetch_stats_delay": 0.3}
    )

    summary = await refresh_packages(one_slot, sessionmaker, http_client)

    other = "/repos/example-org/other-repo"
    assert [request.path for request, _ in upstream.log] == [
        EXAMPLE,
        f"{EXAMPLE}/contributors",
        f"{EXAMPLE}/commits",
        f"{EXAMPLE}/stats/participation",  # 202: package 1 waits, slot free
        other,
        f"{other}/contributors",
        f"{other}/commits",
        f"{other}/stats/participation",
        f"{EXAMPLE}/stats/participation",
    ]
    assert (await stored(sessionmaker, 1)).commits_over_52 == [0] * 51 + [9]
    assert (await stored(sessionmaker, 2)).repo_watchers == 7
    assert (summary.updated, summary.failed) == (2, 0)


@pytest.mark.parametrize(
    "stats", [Response(status=204), json_response({"all": [], "owner": []})]
)
async def test_an_empty_repository_is_a_fact_not_an_error(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    stats: Response,
) -> None:
    # Case 002: stats 204 (or empty lists), contributors 204, commits 409.
    path = "/repos/example-org/empty-repo"
    await make_package(
        sessionmaker, id=3001, repo_url="https://github.com/example-org/empty-repo"
    )
    upstream.expect_request(path).respond_with_response(
        json_response(
            {
                "full_name": "example-org/empty-repo",
                "html_url": "https://github.com/example-org/empty-repo",
                "stargazers_count": 2,
                "watchers_count": 2,
                "forks_count": 0,
                "description": "placeholder description",
                "size": 0,
                "archived": False,
            }
        )
    )
    upstream.expect_request(f"{path}/stats/participation").respond_with_response(stats)
    upstream.expect_request(f"{path}/contributors").respond_with_response(
        Response(status=204)
    )
    upstream.expect_request(f"{path}/commits").respond_with_response(
        json_response(
            {
                "message": "Git Repository is empty.",
                "documentation_url": "https://docs.github.com/rest/commits/commits#list-commits",
            },
            status=409,
        )
    )

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 3001)
    assert package.repo_watchers == 2
    assert package.repo_forks == 0
    assert package.repo_description == "placeholder description"
    assert package.commits_over_52 == [0] * 52
    assert package.participants == []
    assert package.last_updated is None
    assert package.last_fetched is not None
    assert (package.last_exception, package.last_exception_count) == (None, 0)
    for endpoint in ("", "/stats/participation", "/contributors", "/commits"):
        assert len(hits(upstream, f"{path}{endpoint}")) == 1
    assert (summary.updated, summary.failed) == (1, 0)


async def test_a_renamed_repository_is_followed_and_repo_url_updated(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    # Case 004: the old name answers 301 to /repositories/{id}.
    await make_package(
        sessionmaker,
        id=5200,
        repo_url="https://github.com/old-owner/old-name",
        repo_watchers=300,
        repo_forks=31,
    )
    upstream.expect_request("/repos/old-owner/old-name").respond_with_response(
        json_response(
            {
                "message": "Moved Permanently",
                "url": f"{base_url(upstream)}/repositories/123456789",
                "documentation_url": "https://docs.github.com/v3/#http-redirects",
            },
            status=301,
            headers={"Location": f"{base_url(upstream)}/repositories/123456789"},
        )
    )
    upstream.expect_request("/repositories/123456789").respond_with_response(
        json_response(
            {
                "id": 123456789,
                "full_name": "new-owner/new-name",
                "html_url": "https://github.com/new-owner/new-name",
                "stargazers_count": 512,
                "watchers_count": 512,
                "forks_count": 40,
                "description": "placeholder",
                "archived": False,
            }
        )
    )
    serve_repo_endpoints(upstream, "/repos/new-owner/new-name")

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 5200)
    assert (package.repo_watchers, package.repo_forks) == (512, 40)
    assert package.repo_description == "placeholder"
    assert package.participants == ["contributor-a", "contributor-b"]
    assert package.repo_url == "https://github.com/new-owner/new-name"
    assert package.repo_key == "https://github.com/new-owner/new-name"
    assert package.modified == EPOCH
    assert len(hits(upstream, "/repos/old-owner/old-name")) == 1
    assert hits(upstream, "/repos/old-owner/old-name/contributors") == []
    assert package.last_exception is None


def serve_repo_endpoints(upstream: HTTPServer, path: str) -> None:
    """The secondary endpoints of a repository, without /repos itself."""
    upstream.expect_request(f"{path}/contributors").respond_with_response(
        json_response(
            [
                {"login": "contributor-a", "type": "User"},
                {"login": "contributor-b", "type": "User"},
            ]
        )
    )
    upstream.expect_request(f"{path}/commits").respond_with_response(
        json_response([{"commit": {"committer": {"date": "2025-01-09T12:00:00Z"}}}])
    )
    upstream.expect_request(f"{path}/stats/participation").respond_with_response(
        json_response({"all": [1] * 52})
    )


OCTOKIT_OLD = (
    "/repos/octokit-fixture-org/tmp-scenario-rename-repository-20220719044033126-ukeod"
)
OCTOKIT_NEW = f"{OCTOKIT_OLD}-newname"


def serve_octokit_rename(upstream: HTTPServer) -> None:
    upstream.expect_request(OCTOKIT_OLD).respond_with_response(
        replay(upstream, "github/repos-renamed-301-octokit.json")
    )
    upstream.expect_request("/repositories/515436299").respond_with_response(
        replay(upstream, "github/repositories-515436299-after-301-octokit.json")
    )
    serve_repo_endpoints(upstream, OCTOKIT_NEW)


async def test_a_recorded_rename_is_followed(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker,
        id=1,
        repo_url=f"https://github.com{OCTOKIT_OLD.removeprefix('/repos')}",
    )
    serve_octokit_rename(upstream)

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.repo_url == f"https://github.com{OCTOKIT_NEW.removeprefix('/repos')}"
    assert (package.repo_watchers, package.repo_forks, package.repo_description) == (
        0,
        0,
        "",
    )
    assert package.commits_over_52 == [1] * 52
    assert len(hits(upstream, "/repositories/515436299")) == 1  # fmt: skip


async def test_a_rename_onto_a_claimed_repository_keeps_repo_url(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    old_url = f"https://github.com{OCTOKIT_OLD.removeprefix('/repos')}"
    new_url = f"https://github.com{OCTOKIT_NEW.removeprefix('/repos')}"
    await make_package(sessionmaker, id=1, repo_url=old_url, repo_watchers=9)
    await make_package(sessionmaker, id=2, repo_url=new_url)
    serve_octokit_rename(upstream)

    summary = await refresh_packages(
        fetch_settings, sessionmaker, http_client, slugs=["package-1"]
    )

    package = await stored(sessionmaker, 1)
    assert (package.repo_url, package.repo_key) == (old_url, old_url.lower())
    assert package.repo_watchers == 0
    assert (summary.updated, summary.failed) == (1, 0)


async def test_a_redirect_loop_is_recorded_and_keeps_stored_values(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    # Case 004, variant: the Location points back at the same URL.
    await make_package(
        sessionmaker,
        id=5200,
        repo_url="https://github.com/old-owner/old-name",
        repo_watchers=300,
    )
    upstream.expect_request("/repos/old-owner/old-name").respond_with_response(
        json_response(
            {"message": "Moved Permanently"},
            status=301,
            headers={"Location": f"{base_url(upstream)}/repos/old-owner/old-name"},
        )
    )

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 5200)
    assert package.last_exception == "too many redirects"
    assert (package.repo_watchers, package.last_exception_count) == (300, 1)
    assert package.repo_url == "https://github.com/old-owner/old-name"
    assert len(hits(upstream, "/repos/old-owner/old-name")) == 6  # 1 + 5 hops
    assert summary.failed == 1


async def test_a_gone_repository_is_recorded_once_and_never_blanked(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    # Case 005 A, with GitHub's recorded 404 answer.
    weeks = [0] * 51 + [2]
    await make_package(
        sessionmaker,
        id=6001,
        repo_url="https://github.com/djangopackages/does-not-exist",
        repo_watchers=77,
        commits_over_52=weeks,
    )
    upstream.expect_request("/repos/djangopackages/does-not-exist").respond_with_response(
        replay(upstream, "github/repos-djangopackages-does-not-exist-404.json")
    )  # fmt: skip

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 6001)
    assert (package.repo_watchers, package.commits_over_52) == (77, weeks)
    assert package.last_exception == "404 Not Found"
    assert package.last_exception_count == 1
    assert package.last_exception_at is not None
    assert package.last_fetched is None
    assert package.modified == EPOCH
    assert len(upstream.log) == 1  # no retry, no secondary endpoints
    assert (summary.updated, summary.unchanged, summary.failed) == (0, 0, 1)


async def test_5xx_answers_are_retried_until_one_succeeds(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    # Case 005 B: 502, 503, then the repository.
    await make_package(
        sessionmaker, id=6002, repo_url="https://github.com/example-org/example-repo",
        repo_watchers=10,
    )  # fmt: skip
    for status, text in ((502, "Bad Gateway"), (503, "Service Unavailable")):
        upstream.expect_oneshot_request(EXAMPLE).respond_with_data(
            f"<html>{text}</html>", status=status, content_type="text/html"
        )
    serve_repo(upstream, stars=11, forks=1)

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 6002)
    assert (package.repo_watchers, package.repo_forks) == (11, 1)
    assert len(hits(upstream, EXAMPLE)) == 3
    assert (package.last_exception, package.last_exception_count) == (None, 0)


async def test_5xx_after_every_retry_is_recorded_as_transient(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker,
        id=6002,
        repo_url="https://github.com/example-org/example-repo",
        repo_watchers=10,
        participants=["someone"],
        last_exception_count=2,
    )
    upstream.expect_request(EXAMPLE).respond_with_data("oops", status=500)

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 6002)
    assert (package.repo_watchers, package.participants) == (10, ["someone"])
    assert package.last_exception == "transient: 500"
    assert package.last_exception_count == 3
    assert len(hits(upstream, EXAMPLE)) == fetch_settings.fetch_retries == 3
    assert summary.failed == 1


async def test_timeouts_are_retried(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    # Case 005 C: two timeouts, then the repository.
    await make_package(
        sessionmaker, id=6002, repo_url="https://github.com/example-org/example-repo"
    )

    # The timeout leaves the real answer room on a busy machine; the slow
    # ones are well past it.
    slow = Slow(1.5, json_response({}))
    for _ in range(2):
        upstream.expect_oneshot_request(EXAMPLE).respond_with_handler(slow)
    serve_repo(upstream, stars=11)
    impatient = fetch_settings.model_copy(update={"fetch_timeout": 0.5})
    async with create_http_client(impatient) as short_client:
        summary = await refresh_packages(impatient, sessionmaker, short_client)
    await slow.settle()

    package = await stored(sessionmaker, 6002)
    assert package.repo_watchers == 11
    assert slow.calls == 2
    assert len(hits(upstream, EXAMPLE)) == 3
    assert (summary.updated, summary.failed) == (1, 0)


async def test_timeouts_on_every_attempt_are_recorded(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker,
        id=6002,
        repo_url="https://github.com/example-org/example-repo",
        repo_watchers=10,
    )

    slow = Slow(0.3, json_response({}))
    upstream.expect_request(EXAMPLE).respond_with_handler(slow)
    impatient = fetch_settings.model_copy(
        update={"fetch_retries": 2, "fetch_timeout": 0.1}
    )
    async with create_http_client(impatient) as short_client:
        await refresh_packages(impatient, sessionmaker, short_client)
    await slow.settle()

    package = await stored(sessionmaker, 6002)
    assert (package.repo_watchers, package.last_exception) == (10, "transient: timeout")
    assert (package.last_exception_count, slow.calls) == (1, 2)


async def test_a_repository_that_comes_back_resets_the_failure_count(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    # Case 005 D: a later run answers 200 again.
    await make_package(
        sessionmaker,
        id=6001,
        repo_url="https://github.com/example-org/example-repo",
        repo_watchers=77,
        last_exception="404 Not Found",
        last_exception_count=1,
    )
    serve_repo(upstream, stars=80)

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 6001)
    assert (package.repo_watchers, package.last_exception_count) == (80, 0)
    assert package.last_fetched is not None


async def test_malformed_json_is_retried_then_recorded(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker,
        id=1,
        repo_url="https://github.com/example-org/example-repo",
        repo_watchers=10,
    )
    upstream.expect_request(EXAMPLE).respond_with_data(
        '{"stargazers_count": 1', content_type="application/json"
    )

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (package.repo_watchers, package.last_exception) == (
        10,
        "transient: malformed JSON",
    )
    assert len(hits(upstream, EXAMPLE)) == 3


async def test_a_failed_secondary_endpoint_still_stores_the_rest(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker,
        id=1,
        repo_url="https://github.com/example-org/example-repo",
        commits_over_52=OLD_WEEKS,
    )
    upstream.expect_request(f"{EXAMPLE}/stats/participation").respond_with_data(
        "down", status=500
    )
    serve_repo(upstream, stars=33, forks=3)

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (package.repo_watchers, package.repo_forks) == (33, 3)
    assert package.participants == ["contributor-a"]
    assert package.last_updated == datetime(2025, 1, 9, 12, tzinfo=UTC)
    assert package.commits_over_52 == OLD_WEEKS
    assert package.last_exception == "transient: 500"
    assert package.last_exception_count == 1
    assert package.last_fetched is None
    assert summary.failed == 1


async def test_watchers_means_stars(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    # Case 009: never subscribers_count; a null description becomes "".
    await make_package(
        sessionmaker, id=1, repo_url="https://github.com/example-org/example-repo",
        repo_description="old text",
    )  # fmt: skip
    upstream.expect_request(EXAMPLE).respond_with_response(
        json_response(
            {
                "full_name": "example-org/example-repo",
                "html_url": "https://github.com/example-org/example-repo",
                "stargazers_count": 1120,
                "watchers_count": 1120,
                "watchers": 1120,
                "subscribers_count": 138,
                "forks_count": 301,
                "forks": 301,
                "network_count": 301,
                "description": None,
                "archived": True,
                "pushed_at": "2025-01-09T12:00:00Z",
            }
        )
    )
    serve_repo_endpoints(upstream, EXAMPLE)

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (package.repo_watchers, package.repo_forks) == (1120, 301)
    assert package.repo_description == ""
    assert package.repo_archived is True


async def test_an_archived_repository_as_recorded(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    path = "/repos/pydanny/dj-paginator"
    await make_package(
        sessionmaker, id=1, repo_url="https://github.com/pydanny/dj-paginator"
    )
    upstream.expect_request(path).respond_with_response(
        replay(upstream, "github/repos-pydanny-dj-paginator-archived.json")
    )
    upstream.expect_request(f"{path}/contributors").respond_with_response(
        replay(upstream, "github/contributors-pydanny-dj-paginator.json")
    )
    upstream.expect_request(f"{path}/commits").respond_with_response(
        json_response([{"commit": {"committer": {"date": "2015-07-27T01:02:03Z"}}}])
    )
    upstream.expect_request(f"{path}/stats/participation").respond_with_response(
        json_response({"all": NO_ACTIVITY})
    )  # fmt: skip

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.repo_archived is True
    assert (package.repo_watchers, package.repo_forks) == (36, 4)
    assert package.repo_description == "Django + Pagination made easy."
    assert package.participants == ["audreyfeldroy", "pydanny"]


async def test_the_token_is_sent_to_github_only(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker,
        id=1,
        repo_url="https://github.com/example-org/example-repo",
        pypi_url="example-pkg",
    )
    serve_repo(upstream)
    upstream.expect_request("/pypi/example-pkg/json").respond_with_response(
        json_response({"info": {"version": "1.0"}, "releases": {}})
    )
    with_token = fetch_settings.model_copy(update={"github_token": SecretStr("t0ken")})

    await refresh_packages(with_token, sessionmaker, http_client)

    auth = {
        request.path: request.headers.get("Authorization")
        for request, _ in upstream.log
    }
    assert auth[EXAMPLE] == "Bearer t0ken"
    assert auth["/graphql"] == "Bearer t0ken"
    assert auth["/pypi/example-pkg/json"] is None  # fmt: skip


async def test_a_concurrent_edit_by_a_person_survives_the_fetch(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker,
        id=1,
        title="Before",
        repo_url="https://github.com/example-org/example-repo",
        pypi_url="example-pkg",
    )
    asked, edited = threading.Event(), threading.Event()

    def held(request: Request) -> Response:
        asked.set()
        edited.wait(timeout=2)
        return json_response(
            {
                "info": {"version": "2.0", "docs_url": "https://pythonhosted.org/x/"},
                "releases": {},
            }
        )

    upstream.expect_request("/pypi/example-pkg/json").respond_with_handler(held)
    serve_repo(upstream, stars=99)

    refresh = asyncio.create_task(
        refresh_packages(fetch_settings, sessionmaker, http_client)
    )
    await asyncio.to_thread(asked.wait, 2)
    async with sessionmaker() as session:
        await session.execute(
            update(Package)
            .where(Package.id == 1)
            .values(title="After", documentation_url="https://docs.example.org/")
        )
        await session.commit()
    edited.set()
    summary = await refresh

    package = await stored(sessionmaker, 1)
    assert (package.title, package.documentation_url) == (
        "After",
        "https://docs.example.org/",
    )
    assert (package.repo_watchers, package.pypi_version) == (99, "2.0")
    assert summary.updated == 1
