"""GitLab: gitlab.com and self-hosted instances against a stand-in GitLab API."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.fetcher.forge import NO_ACTIVITY
from app.fetcher.forges import fetched_hosts
from app.fetcher.gitlab import GitLabClient
from app.fetcher.refresh import refresh_packages
from app.packages.repo_url import RepoRef, repo_key
from tests.factories import EPOCH, make_package
from tests.fetcher.support import (
    base_url,
    configured,
    hits,
    json_response,
    load,
    replay,
    stored,
    unsupported,
)

pytestmark = pytest.mark.usefixtures("category")

# The project's last_activity_at in the capture: "now" for its commit weeks.
NOW = datetime(2022, 8, 12, 13, 20, 2, tzinfo=UTC)
PROJECT_PATH = "lansharkconsulting/django/django-encrypted-model-fields"
ENCODED = "lansharkconsulting%2Fdjango%2Fdjango-encrypted-model-fields"
# Werkzeug decodes %2F before matching, so the stand-in matches on slashes.
PROJECT = f"/api/v4/projects/{PROJECT_PATH}"
COMMITS = "/api/v4/projects/6812925/repository/commits"
# Page 1 of the capture, counted into the 52 weeks that end at NOW.
WEEKS = [0] * 52
for week, count in {1: 11, 18: 2, 25: 2, 27: 4, 47: 1}.items():
    WEEKS[week] = count


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.fetcher.activity.utcnow", lambda: NOW)


def commit(committed_date: str) -> dict[str, Any]:
    """A commit in the captured shape, with another date."""
    entry = load("gitlab/commits-6812925-page1.json")["body"][0]
    return {**entry, "committed_date": committed_date}


def serve_encrypted_model_fields(upstream: HTTPServer) -> None:
    """The nested-group project and its commits, as gitlab.com gave them."""
    upstream.expect_request(PROJECT).respond_with_response(
        replay(
            upstream,
            "gitlab/projects-lansharkconsulting-django-django-encrypted-model-fields.json",
        )
    )
    upstream.expect_request(
        COMMITS, query_string={"since": "2021-08-13T13:20:02Z", "per_page": "100"}
    ).respond_with_response(replay(upstream, "gitlab/commits-6812925-page1.json"))
    upstream.expect_request(
        COMMITS,
        query_string={
            "id": "6812925",
            "order": "default",
            "page": "2",
            "per_page": "20",
            "trailers": "false",
        },
    ).respond_with_response(replay(upstream, "gitlab/commits-6812925-page2.json"))


async def test_a_nested_group_project_is_read_and_its_year_of_commits_counted(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    clock: None,
) -> None:
    await make_package(
        sessionmaker,
        id=1,
        repo_url=f"https://gitlab.com/{PROJECT_PATH}/-/tree/develop",
        participants=["kept-login"],
    )
    serve_encrypted_model_fields(upstream)

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (summary.updated, summary.unchanged, summary.failed) == (1, 0, 0)
    assert (package.repo_watchers, package.repo_forks) == (33, 25)
    assert package.repo_description == (
        "A set of fields that wrap standard Django fields with encryption provided"
        " by the python cryptography library."
    )
    assert package.repo_archived is False
    assert package.commits_over_52 == WEEKS
    assert package.last_updated == datetime(2022, 7, 12, 13, 28, 12, tzinfo=UTC)
    assert package.participants == ["kept-login"]  # unsupported: kept
    assert await unsupported(sessionmaker, 1) == ["participants"]
    assert (package.last_exception, package.last_exception_count) == (None, 0)
    assert package.repo_url == f"https://gitlab.com/{PROJECT_PATH}/-/tree/develop"
    assert package.modified == EPOCH
    # The whole path is one URL-encoded segment; page 2 ends the walk, since
    # it reaches past the year; contributors are never asked for. (The ":"
    # of the timestamp is sent as it is, which a query allows.)
    assert [request.environ["REQUEST_URI"] for request, _ in upstream.log] == [
        f"/api/v4/projects/{ENCODED}",
        f"{COMMITS}?since=2021-08-13T13:20:02Z&per_page=100",
        f"{COMMITS}?id=6812925&order=default&page=2&per_page=20&trailers=false",
    ]


async def test_the_client_says_participants_are_unsupported(
    fetch_settings: Settings, http_client: httpx.AsyncClient, upstream: HTTPServer,
    clock: None,
) -> None:  # fmt: skip
    serve_encrypted_model_fields(upstream)
    client = GitLabClient(
        http_client,
        fetch_settings,
        api_url=fetch_settings.gitlab_api_url,
        token=None,
    )

    stats = await client.fetch(RepoRef("gitlab", "gitlab.com", PROJECT_PATH))

    assert stats.unsupported == frozenset({"participants"})
    assert stats.participants is None
    assert (stats.watchers, stats.forks, stats.errors) == (33, 25, [])
    assert stats.ref == RepoRef("gitlab", "gitlab.com", PROJECT_PATH)


async def test_the_commit_page_cap_ends_the_walk(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    clock: None,
) -> None:
    await make_package(
        sessionmaker, id=1, repo_url=f"https://gitlab.com/{PROJECT_PATH}"
    )
    serve_encrypted_model_fields(upstream)
    one_page = fetch_settings.model_copy(update={"fetch_commit_pages": 1})

    summary = await refresh_packages(one_page, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.commits_over_52 == WEEKS
    assert len(hits(upstream, COMMITS)) == 1
    assert (summary.updated, summary.failed) == (1, 0)


async def test_an_archived_project_without_a_commit_this_year(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    clock: None,
) -> None:
    await make_package(
        sessionmaker,
        id=1,
        repo_url="https://gitlab.com/jeff.triplett/django-metadata",
        repo_watchers=4,
        commits_over_52=[1] * 52,
    )
    upstream.expect_request(
        "/api/v4/projects/jeff.triplett/django-metadata"
    ).respond_with_response(
        replay(upstream, "gitlab/projects-jeff.triplett-django-metadata-archived.json")
    )
    commits = "/api/v4/projects/46520/repository/commits"
    upstream.expect_request(
        commits, query_string={"since": "2021-08-13T13:20:02Z", "per_page": "100"}
    ).respond_with_response(json_response([]))
    upstream.expect_request(
        commits, query_string={"per_page": "1"}
    ).respond_with_response(json_response([commit("2014-04-27T20:54:43.000Z")]))

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.repo_archived is True
    assert (package.repo_watchers, package.repo_forks) == (0, 0)
    assert package.repo_description == (
        "Metadata package for models. \r\n\r\n"
        "My forked copy of: https://github.com/rafaelsierra/django-metadata"
    )
    assert package.commits_over_52 == NO_ACTIVITY
    assert package.last_updated == datetime(2014, 4, 27, 20, 54, 43, tzinfo=UTC)
    assert package.last_exception is None
    assert len(hits(upstream, commits)) == 2


async def test_an_empty_project_asks_for_no_commits(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    project = load("gitlab/projects-gitea-test_repo.json")["body"]
    await make_package(
        sessionmaker,
        id=1,
        repo_url="https://gitlab.com/gitea/test_repo",
        commits_over_52=[2] * 52,
        last_updated=EPOCH,
    )
    upstream.expect_request("/api/v4/projects/gitea/test_repo").respond_with_response(
        json_response({**project, "empty_repo": True})
    )

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.commits_over_52 == NO_ACTIVITY
    assert package.last_updated is None
    assert (package.repo_watchers, package.repo_forks) == (0, 1)
    assert len(upstream.log) == 1


async def test_a_missing_project_is_recorded_and_keeps_stored_values(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker,
        id=1,
        repo_url="https://gitlab.com/jeff.triplett/does-not-exist",
        repo_watchers=12,
    )
    upstream.expect_request(
        "/api/v4/projects/jeff.triplett/does-not-exist"
    ).respond_with_response(
        replay(upstream, "gitlab/projects-jeff.triplett-does-not-exist-404.json")
    )

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.repo_watchers == 12
    # GitLab's message repeats the status: "404 Project Not Found".
    assert package.last_exception == "404 Project Not Found"
    assert package.last_exception_count == 1
    assert len(upstream.log) == 1
    assert summary.failed == 1


async def test_a_self_hosted_instance_uses_its_own_api_and_token(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    clock: None,
) -> None:
    settings = configured(
        fetch_settings.model_copy(update={"gitlab_token": SecretStr("gitlab-com")}),
        GITLAB_HOSTS=f"git.example.org={base_url(upstream)}/gitlab/api/v4/",
        GITLAB_HOST_TOKENS="git.example.org=self-hosted",
    )
    await make_package(
        sessionmaker, id=1, repo_url="https://git.example.org/gitea/test_repo.git"
    )
    await make_package(
        sessionmaker, id=2, repo_url=f"https://gitlab.com/{PROJECT_PATH}"
    )
    serve_encrypted_model_fields(upstream)
    upstream.expect_request(
        "/gitlab/api/v4/projects/gitea/test_repo"
    ).respond_with_response(replay(upstream, "gitlab/projects-gitea-test_repo.json"))
    upstream.expect_request(
        "/gitlab/api/v4/projects/15578026/repository/commits"
    ).respond_with_response(
        json_response([commit("2022-08-01T10:00:00.000+02:00")])
    )  # fmt: skip

    summary = await refresh_packages(settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (package.repo_watchers, package.repo_forks) == (0, 1)
    assert package.repo_description == (
        "Test repository for testing migration from gitlab to gitea"
    )
    assert package.commits_over_52 == [0] * 50 + [1, 0]
    assert package.last_updated == datetime(2022, 8, 1, 8, tzinfo=UTC)
    assert package.repo_url == "https://git.example.org/gitea/test_repo.git"
    assert (await stored(sessionmaker, 2)).repo_watchers == 33
    auth = {
        request.environ["REQUEST_URI"].split("?")[0]: request.headers.get(
            "Authorization"
        )
        for request, _ in upstream.log
    }
    assert auth == {
        "/gitlab/api/v4/projects/gitea%2Ftest_repo": "Bearer self-hosted",
        "/gitlab/api/v4/projects/15578026/repository/commits": "Bearer self-hosted",
        f"/api/v4/projects/{ENCODED}": "Bearer gitlab-com",
        COMMITS: "Bearer gitlab-com",
    }
    assert (summary.updated, summary.failed) == (2, 0)


async def test_a_project_moved_on_a_self_hosted_instance_keeps_one_identity(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    clock: None,
) -> None:
    # Asked under its old path, the instance answers with the project's
    # current one: the package follows it, and its identity is the one an
    # edit of the same URL would give, so a second package cannot take it.
    settings = configured(
        fetch_settings,
        GITLAB_HOSTS=f"git.example.org={base_url(upstream)}/gitlab/api/v4/",
    )
    await make_package(
        sessionmaker, id=1, repo_url="https://git.example.org/old-group/test_repo"
    )
    upstream.expect_request(
        "/gitlab/api/v4/projects/old-group/test_repo"
    ).respond_with_response(replay(upstream, "gitlab/projects-gitea-test_repo.json"))
    upstream.expect_request(
        "/gitlab/api/v4/projects/15578026/repository/commits"
    ).respond_with_response(json_response([]))

    await refresh_packages(settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    moved = "https://git.example.org/gitea/test_repo"
    assert package.repo_url == moved
    assert package.repo_key == repo_key(moved, fetched_hosts(settings))
    assert package.repo_key == "https://git.example.org/gitea/test_repo"
