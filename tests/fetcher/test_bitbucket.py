"""Bitbucket Cloud: repository stats against a stand-in Bitbucket API."""

import copy
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from werkzeug import Response

from app.config import Settings
from app.fetcher.bitbucket import BitbucketClient
from app.fetcher.forge import NO_ACTIVITY
from app.fetcher.refresh import refresh_packages
from app.packages.repo_url import RepoRef
from tests.factories import EPOCH, make_package
from tests.fetcher.support import (
    base_url,
    hits,
    json_response,
    load,
    replay,
    stored,
    unsupported,
)

pytestmark = pytest.mark.usefixtures("category")

NOW = datetime(2018, 9, 1, tzinfo=UTC)
REPO = "/2.0/repositories/Manfre/django-mssql"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.fetcher.activity.utcnow", lambda: NOW)


def commits_page(dates: list[str], next_url: str | None = None) -> dict[str, Any]:
    """A page of commits in the captured shape, with other dates."""
    captured = load("bitbucket/commits-Manfre-django-mssql-limit-50.json")["body"]
    values = [{**copy.deepcopy(captured["values"][0]), "date": d} for d in dates]
    page: dict[str, Any] = {"pagelen": len(values), "values": values}
    if next_url is not None:
        page["next"] = next_url
    return page


def serve_django_mssql(upstream: HTTPServer) -> None:
    """The repository and its fork count as Bitbucket gave them (2024)."""
    upstream.expect_request(REPO).respond_with_response(
        replay(upstream, "bitbucket/repositories-Manfre-django-mssql.json")
    )
    upstream.expect_request(f"{REPO}/forks").respond_with_response(
        replay(upstream, "bitbucket/forks-Manfre-django-mssql.json")
    )


async def test_a_repository_is_read_and_what_bitbucket_lacks_is_kept(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    clock: None,
) -> None:
    await make_package(
        sessionmaker,
        id=1,
        repo_url="https://bitbucket.org/Manfre/django-mssql/src/master/",
        repo_watchers=16,
        participants=["Manfre"],
        repo_archived=True,
    )
    serve_django_mssql(upstream)
    upstream.expect_request(f"{REPO}/commits").respond_with_response(
        replay(upstream, "bitbucket/commits-Manfre-django-mssql-limit-50.json")
    )

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (summary.updated, summary.failed) == (1, 0)
    assert package.repo_forks == 37  # the forks page's size, not its 10 values
    assert package.repo_description == (
        "Microsoft SQL server backend for Django running on windows.\r\n\r\n"
        "No actively maintained and only supports up to Django 1.8, which hasn't"
        " received security fixes for years."
    )
    # No stars, no contributor list, no archived state: all kept as stored.
    assert package.repo_watchers == 16
    assert package.participants == ["Manfre"]
    assert package.repo_archived is True
    assert await unsupported(sessionmaker, 1) == [
        "participants",
        "repo_archived",
        "repo_watchers",
    ]
    # Three commits on 2018-08-22 and one on 2017-12-12 fall in the year.
    assert package.commits_over_52 == [0] * 14 + [1] + [0] * 35 + [3, 0]
    assert package.last_updated == datetime(2018, 8, 22, 18, 50, 22, tzinfo=UTC)
    assert (package.last_exception, package.last_exception_count) == (None, 0)
    assert package.modified == EPOCH
    # The first page reaches past the year, so its `next` is not followed;
    # watchers are never asked for.
    assert [request.environ["REQUEST_URI"] for request, _ in upstream.log] == [
        REPO,
        f"{REPO}/forks?pagelen=1",
        f"{REPO}/commits?pagelen=100",
    ]


async def test_commit_pages_follow_the_next_url_in_the_body(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    clock: None,
) -> None:
    await make_package(
        sessionmaker, id=1, repo_url="https://bitbucket.org/Manfre/django-mssql"
    )
    serve_django_mssql(upstream)
    second = f"{base_url(upstream)}{REPO}/commits/?pagelen=100&ctx=dc1b9b5d&page=2"
    third = f"{base_url(upstream)}{REPO}/commits/?pagelen=100&ctx=dc1b9b5d&page=3"
    upstream.expect_request(
        f"{REPO}/commits", query_string={"pagelen": "100"}
    ).respond_with_response(
        json_response(
            commits_page(
                ["2018-08-30T12:00:00+00:00", "2018-08-29T12:00:00+00:00"], second
            )
        )
    )
    upstream.expect_request(
        f"{REPO}/commits/", query_string={"pagelen": "100", "ctx": "dc1b9b5d", "page": "2"}
    ).respond_with_response(
        json_response(
            commits_page(["2017-09-03T12:00:00+00:00", "2017-09-01T12:00:00+00:00"], third)
        )
    )  # fmt: skip

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.commits_over_52 == [1] + [0] * 50 + [2]
    assert package.last_updated == datetime(2018, 8, 30, 12, tzinfo=UTC)
    assert len(hits(upstream, f"{REPO}/commits")) == 1
    assert len(hits(upstream, f"{REPO}/commits/")) == 1  # page 3 is past the year
    assert package.last_exception is None


async def test_a_repository_without_commits_is_empty(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker,
        id=1,
        repo_url="https://bitbucket.org/Manfre/django-mssql",
        commits_over_52=[1] * 52,
        last_updated=EPOCH,
    )
    serve_django_mssql(upstream)
    upstream.expect_request(f"{REPO}/commits").respond_with_response(
        json_response({"pagelen": 100, "values": [], "page": 1})
    )

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.commits_over_52 == NO_ACTIVITY
    assert package.last_updated is None
    assert package.last_exception is None


async def test_without_its_fork_count_the_repository_is_not_stored(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker,
        id=1,
        repo_url="https://bitbucket.org/Manfre/django-mssql",
        repo_forks=30,
        repo_description="old",
    )
    upstream.expect_request(REPO).respond_with_response(
        replay(upstream, "bitbucket/repositories-Manfre-django-mssql.json")
    )
    upstream.expect_request(f"{REPO}/forks").respond_with_response(
        Response(
            json.dumps({"type": "error", "error": {"message": "Not found"}}),
            status="404 Not Found",
            content_type="application/json",
        )
    )

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (package.repo_forks, package.repo_description) == (30, "old")
    assert package.last_exception == "404 Not Found"
    assert hits(upstream, f"{REPO}/commits") == []
    assert summary.failed == 1


async def test_the_client_names_what_bitbucket_cannot_supply(
    fetch_settings: Settings,
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    clock: None,
) -> None:
    upstream.expect_request("/2.0/repositories/gitea/test_repo").respond_with_response(
        replay(upstream, "bitbucket/repositories-gitea-test_repo.json")
    )
    upstream.expect_request(
        "/2.0/repositories/gitea/test_repo/forks"
    ).respond_with_response(
        json_response({"pagelen": 1, "size": 0, "page": 1, "values": []})
    )
    upstream.expect_request(
        "/2.0/repositories/gitea/test_repo/commits"
    ).respond_with_response(json_response(commits_page(["2018-08-31T23:00:00+00:00"])))
    client = BitbucketClient(
        http_client,
        fetch_settings,
        api_url=fetch_settings.bitbucket_api_url,
        token=None,
    )

    stats = await client.fetch(RepoRef("bitbucket", "bitbucket.org", "gitea/test_repo"))

    assert stats.unsupported == frozenset(
        {"repo_watchers", "participants", "repo_archived"}
    )
    assert (stats.forks, stats.description, stats.participants) == (0, "", None)
    assert stats.commits_over_52 == [0] * 51 + [1]
    assert stats.ref == RepoRef("bitbucket", "bitbucket.org", "gitea/test_repo")
