"""The Gitea family: Codeberg, Forgejo and Gitea instances against a stand-in API."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.fetcher.forge import NO_ACTIVITY
from app.fetcher.gitea import GiteaClient
from app.fetcher.refresh import refresh_packages
from app.packages.repo_url import RepoRef
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

NOW = datetime(2020, 9, 2, tzinfo=UTC)  # the day after gitea/test_repo's last push
SINCE = "2019-09-04T00:00:00Z"
LIGHT = {"stat": "false", "verification": "false", "files": "false"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.fetcher.activity.utcnow", lambda: NOW)


def gitea_commit(date: str) -> dict[str, Any]:
    """One entry of GET /repos/{owner}/{repo}/commits, in the shape of Gitea's
    API reference (no capture of this endpoint is in the shared set)."""
    person = {"name": "Example Person", "email": "user1@example.invalid", "date": date}
    return {
        "sha": "0" * 40,
        "created": date,
        "commit": {"author": person, "committer": person, "message": "placeholder"},
        "author": None,
        "committer": None,
        "parents": [],
    }


def gitea_link(url: str, **pages: int) -> str:
    """A Link header as Gitea writes it: entries joined by "," with no space."""
    return ",".join(f'<{url}&page={page}>; rel="{rel}"' for rel, page in pages.items())


async def test_a_gitea_instance_is_read_with_stars_not_watchers(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    clock: None,
) -> None:
    api = f"{base_url(upstream)}/gitea/api/v1"
    settings = configured(fetch_settings, GITEA_HOSTS=f"gitea.com={api}")
    await make_package(
        sessionmaker,
        id=1,
        repo_url="https://gitea.com/gitea/test_repo/src/branch/master/README.md",
        participants=["kept-login"],
        repo_archived=True,
    )
    path = "/gitea/api/v1/repos/gitea/test_repo"
    upstream.expect_request(path).respond_with_response(
        replay(upstream, "gitea/repos-gitea-test_repo.json")
    )
    first = {"since": SINCE, "limit": "50", **LIGHT}
    pages = f"{api}/repos/gitea/test_repo/commits?limit=50&since={SINCE}"
    upstream.expect_request(
        f"{path}/commits", query_string=first
    ).respond_with_response(
        json_response(
            [
                gitea_commit("2020-09-01T18:03:41Z"),
                gitea_commit("2020-09-01T00:12:27+02:00"),
            ],
            headers={
                "Link": gitea_link(pages, next=2, last=2),
                "X-Total-Count": "3",
            },
        )
    )
    upstream.expect_request(
        f"{path}/commits", query_string={"limit": "50", "since": SINCE, "page": "2"}
    ).respond_with_response(
        json_response(
            [gitea_commit("2019-12-24T09:00:00Z")],
            headers={"Link": gitea_link(pages, first=1, prev=1), "X-Total-Count": "3"},
        )
    )  # fmt: skip

    summary = await refresh_packages(settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (summary.updated, summary.failed) == (1, 0)
    assert package.repo_watchers == 1  # stars_count; watchers_count is 10
    assert package.repo_forks == 2
    assert package.repo_description == (
        "Test repository for testing migration from gitea to gitea"
    )
    assert package.repo_archived is False  # archived_at is the epoch, not null
    assert package.commits_over_52 == [0] * 15 + [1] + [0] * 35 + [2]
    assert package.last_updated == datetime(2020, 9, 1, 18, 3, 41, tzinfo=UTC)
    assert package.participants == ["kept-login"]  # unsupported: kept
    assert await unsupported(sessionmaker, 1) == ["participants"]
    assert package.repo_url == (
        "https://gitea.com/gitea/test_repo/src/branch/master/README.md"
    )
    assert (package.last_exception, package.last_exception_count) == (None, 0)
    assert len(hits(upstream, f"{path}/commits")) == 2


async def test_codeberg_is_read_from_its_own_api_url(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    clock: None,
) -> None:
    await make_package(
        sessionmaker,
        id=1,
        repo_url="https://codeberg.org/privacyguides/privacyguides.org",
        commits_over_52=[1] * 52,
    )
    path = "/api/v1/repos/privacyguides/privacyguides.org"
    upstream.expect_request(path).respond_with_response(
        replay(upstream, "gitea/codeberg-repos-privacyguides-privacyguides.org.json")
    )
    upstream.expect_request(
        f"{path}/commits", query_string={"since": SINCE, "limit": "50", **LIGHT}
    ).respond_with_response(json_response([], headers={"X-Total-Count": "0"}))
    upstream.expect_request(
        f"{path}/commits", query_string={"limit": "1", **LIGHT}
    ).respond_with_response(json_response([gitea_commit("2019-01-02T03:04:05Z")]))

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (package.repo_watchers, package.repo_forks) == (194, 4)
    assert package.repo_archived is False  # archived_at "1970-01-01T01:00:00+01:00"
    assert package.repo_description == (
        "Mirror of https://github.com/privacyguides/privacyguides.org"
        " - Protect your data against global mass surveillance programs."
    )
    assert package.commits_over_52 == NO_ACTIVITY
    assert package.last_updated == datetime(2019, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert len(hits(upstream, f"{path}/commits")) == 2


async def test_a_self_hosted_forgejo_uses_its_own_api_and_token(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    clock: None,
) -> None:
    settings = configured(
        fetch_settings,
        GITEA_HOSTS=f"forgejo.example={base_url(upstream)}/forgejo/api/v1",
        GITEA_HOST_TOKENS="forgejo.example=forgejo-secret",
        CODEBERG_TOKEN="codeberg-secret",
    )
    await make_package(
        sessionmaker, id=1, repo_url="git@forgejo.example:alice/test_repo.git"
    )
    path = "/forgejo/api/v1/repos/alice/test_repo"
    upstream.expect_request(path).respond_with_response(
        replay(upstream, "gitea/forgejo-repos-alice-test_repo.json")
    )
    upstream.expect_request(f"{path}/commits").respond_with_response(
        json_response([gitea_commit("2020-08-31T12:00:00Z")])
    )

    await refresh_packages(settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (package.repo_watchers, package.repo_forks) == (0, 0)  # watchers: 1
    assert package.repo_description == (
        "Test repository for testing migration from forgejo to gitea"
    )
    assert package.commits_over_52 == [0] * 51 + [1]
    assert package.repo_url == "git@forgejo.example:alice/test_repo.git"
    assert [request.headers.get("Authorization") for request, _ in upstream.log] == [
        "token forgejo-secret",
        "token forgejo-secret",
    ]


async def test_an_empty_or_archived_repository(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    body = load("gitea/repos-gitea-test_repo.json")["body"]
    await make_package(
        sessionmaker,
        id=1,
        repo_url="https://codeberg.org/gitea/test_repo",
        commits_over_52=[1] * 52,
        last_updated=EPOCH,
    )
    upstream.expect_request("/api/v1/repos/gitea/test_repo").respond_with_response(
        json_response(
            {
                **body,
                "empty": True,
                "archived": True,
                "archived_at": "2024-05-06T07:08:09Z",
            }
        )
    )

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.repo_archived is True
    assert package.commits_over_52 == NO_ACTIVITY
    assert package.last_updated is None
    assert len(upstream.log) == 1  # an empty repository has no commits to ask for


async def test_the_client_says_participants_are_unsupported(
    fetch_settings: Settings,
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    clock: None,
) -> None:
    upstream.expect_request("/api/v1/repos/gitea/test_repo").respond_with_response(
        replay(upstream, "gitea/repos-gitea-test_repo.json")
    )
    upstream.expect_request("/api/v1/repos/gitea/test_repo/commits").respond_with_response(
        json_response([gitea_commit("2020-09-01T18:03:41Z")])
    )  # fmt: skip
    client = GiteaClient(
        http_client,
        fetch_settings,
        api_url=fetch_settings.codeberg_api_url,
        token=None,
    )

    stats = await client.fetch(RepoRef("codeberg", "codeberg.org", "gitea/test_repo"))

    assert stats.unsupported == frozenset({"participants"})
    assert (stats.watchers, stats.forks, stats.archived) == (1, 2, False)
    assert stats.participants is None
    assert stats.errors == []
