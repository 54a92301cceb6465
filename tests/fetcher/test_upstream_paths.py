"""Repository paths an upstream names go into URLs only when well-formed.

A forge answering with a new owner/name (a rename, a transfer) decides the
path of the calls that follow, which carry the forge's token; a path such
as "../.." would send them to other endpoints of the API.
"""

import re
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.fetcher.forge import api_path
from app.fetcher.refresh import refresh_packages
from app.models import FetchState
from app.packages.repo_url import Forge, RepoRef, is_repo_path, parse_repo_url
from tests.factories import make_package
from tests.fetcher.support import configured, json_response, stored
from tests.fetcher.test_github import serve_repo_endpoints
from tests.fetcher.test_github_graphql import node, serve_graphql


@pytest.mark.parametrize(
    ("path", "forge"),
    [
        ("example-org/example-repo", "github"),
        ("Example.Org/example_repo.py", "github"),
        ("example-org/...", "github"),
        ("group/sub-group/project", "gitlab"),
        ("workspace/slug", "bitbucket"),
        ("owner/name", "codeberg"),
    ],
)
def test_a_well_formed_path_is_taken(path: str, forge: Forge) -> None:
    assert is_repo_path(path, forge) is True


@pytest.mark.parametrize(
    ("path", "forge"),
    [
        ("../..", "github"),
        ("example-org/..", "github"),
        ("./example-repo", "gitea"),
        ("group/../project", "gitlab"),
        ("example-org//example-repo", "gitlab"),
        ("/example-org/example-repo", "github"),
        ("example-org/example-repo/", "github"),
        ("example-org", "github"),
        ("group/sub-group/project", "github"),
        ("group/sub-group/project", "bitbucket"),
        ("example-org/example-repo?per_page=1", "github"),
        ("example-org/example-repo#top", "github"),
        ("example-org/%2e%2e", "github"),
        ("example-org/example repo", "github"),
        ("example-org/example-repo\n", "github"),
        ("example-org/example\x00repo", "github"),
        ("example-org/example\\repo", "github"),
        ("", "gitlab"),
    ],
)
def test_a_malformed_path_is_refused(path: str, forge: Forge) -> None:
    assert is_repo_path(path, forge) is False


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/../..",
        "https://github.com/example-org/..",
        "https://github.com/example-org/...git",
        "https://gitlab.com/group/../project",
        "https://codeberg.org/./example-repo",
    ],
)
def test_a_repository_url_with_dot_segments_names_no_repository(url: str) -> None:
    assert parse_repo_url(url) is None


def test_a_path_goes_into_a_url_with_each_segment_encoded() -> None:
    ref = RepoRef(forge="gitea", host="gitea.example.org", path="ünï-code/na.me_1")

    assert api_path(ref) == "%C3%BCn%C3%AF-code/na.me_1"


TRAVERSAL = "/repos/evil/trav"
TRAVERSAL_URL = "https://github.com/evil/trav"
REFUSED = "unexpected response: {field}: must be a repository path (owner/name)"
STORED: dict[str, Any] = {
    "repo_watchers": 77,
    "repo_forks": 7,
    "repo_description": "old text",
    "participants": ["kept-login"],
}


def serve_anything_else(upstream: HTTPServer) -> None:
    """200 and an empty list for every request not expected before, so that a
    request that should never be sent is answered and shows in the log."""
    upstream.expect_request(re.compile(".*")).respond_with_response(json_response([]))


def requested(upstream: HTTPServer) -> list[tuple[str, str, str | None]]:
    """Method, path with query, and Authorization of every request, in order."""
    return [
        (
            request.method,
            request.full_path.rstrip("?"),
            request.headers.get("Authorization"),
        )
        for request, _ in upstream.log
    ]


async def refused_state(
    sessionmaker: async_sessionmaker[AsyncSession], package_id: int
) -> tuple[str, str | None, int]:
    async with sessionmaker() as session:
        state = await session.get(FetchState, (package_id, "repo"))
    assert state is not None
    return state.status, state.last_error, state.error_count


@pytest.mark.usefixtures("category")
@pytest.mark.parametrize(
    ("names", "field"),
    [
        ({"full_name": "../..", "html_url": "bogus"}, "full_name"),
        ({"full_name": "evil/..", "html_url": "https://github.com/../.."}, "full_name"),
        ({"full_name": "evil/trav?per_page=1"}, "full_name"),
        ({"full_name": "evil/trav#x", "html_url": 'https://github.com/"'}, "full_name"),
        ({"full_name": "evil/trav/stats/participation"}, "full_name"),
        ({"full_name": "evil/ trav"}, "full_name"),
        ({"full_name": "evil/%2e%2e"}, "full_name"),
        ({"full_name": ""}, "full_name"),
    ],
    ids=[
        "dot-dot",
        "dot-dot-in-name",
        "query",
        "fragment",
        "extra-segments",
        "space",
        "percent",
        "empty",
    ],
)
async def test_a_github_answer_naming_a_malformed_path_is_refused(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    names: dict[str, Any],
    field: str,
) -> None:
    await make_package(sessionmaker, id=1, repo_url=TRAVERSAL_URL, **STORED)
    upstream.expect_request(TRAVERSAL).respond_with_response(
        json_response({"stargazers_count": 1, "forks_count": 1, **names})
    )
    serve_anything_else(upstream)

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    expected = REFUSED.format(field=field)
    assert requested(upstream) == [("GET", TRAVERSAL, None)]
    package = await stored(sessionmaker, 1)
    assert package.repo_url == TRAVERSAL_URL
    assert {column: getattr(package, column) for column in STORED} == STORED
    assert (package.last_exception, package.last_exception_count) == (expected, 1)
    assert await refused_state(sessionmaker, 1) == ("failed", expected, 1)
    assert summary.failed == 1


@pytest.mark.usefixtures("category")
async def test_with_a_token_no_request_leaves_the_repository(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    # GraphQL names "../.." first; REST, asked instead, names it too.
    token = "t0ken-abcdef123456"
    settings = configured(fetch_settings, GITHUB_TOKEN=token)
    await make_package(sessionmaker, id=1, repo_url=TRAVERSAL_URL, **STORED)
    serve_graphql(
        upstream,
        {"evil/trav": {**node("evil/trav"), "nameWithOwner": "../..", "url": "x"}},
    )
    upstream.expect_request(TRAVERSAL).respond_with_response(
        json_response(
            {
                "full_name": "../..",
                "html_url": "https://github.com/../..",
                "stargazers_count": 1,
                "forks_count": 1,
            }
        )
    )
    serve_anything_else(upstream)

    await refresh_packages(settings, sessionmaker, http_client)

    expected = REFUSED.format(field="full_name")
    assert requested(upstream) == [
        ("POST", "/graphql", f"Bearer {token}"),
        ("GET", TRAVERSAL, f"Bearer {token}"),
    ]
    package = await stored(sessionmaker, 1)
    assert (package.repo_url, package.repo_watchers) == (TRAVERSAL_URL, 77)
    assert package.last_exception == expected
    assert await refused_state(sessionmaker, 1) == ("failed", expected, 1)


@pytest.mark.usefixtures("category")
async def test_an_html_url_on_another_host_is_not_followed(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(sessionmaker, id=1, repo_url=TRAVERSAL_URL, **STORED)
    upstream.expect_request(TRAVERSAL).respond_with_response(
        json_response(
            {
                "html_url": "https://gitlab.com/other-group/other-project",
                "stargazers_count": 1,
                "forks_count": 1,
            }
        )
    )
    serve_repo_endpoints(upstream, TRAVERSAL)

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (package.repo_url, package.repo_watchers) == (TRAVERSAL_URL, 1)
    assert package.participants == ["contributor-a", "contributor-b"]
    assert (package.last_exception, summary.updated) == (None, 1)
    assert sorted(path for _, path, _ in requested(upstream)) == [
        TRAVERSAL,
        f"{TRAVERSAL}/commits?per_page=1",
        f"{TRAVERSAL}/contributors?per_page=100",
        f"{TRAVERSAL}/stats/participation",
    ]


@pytest.mark.usefixtures("category")
@pytest.mark.parametrize(
    ("repo_url", "path", "answer", "field"),
    [
        (
            "https://gitlab.com/group/project",
            "/api/v4/projects/group/project",
            {
                "id": 42,
                "star_count": 1,
                "forks_count": 1,
                "path_with_namespace": "group/../../../user",
            },
            "path_with_namespace",
        ),
        (
            "https://codeberg.org/owner/name",
            "/api/v1/repos/owner/name",
            {"stars_count": 1, "forks_count": 1, "full_name": "../.."},
            "full_name",
        ),
        (
            "https://codeberg.org/owner/name",
            "/api/v1/repos/owner/name",
            {"stars_count": 1, "forks_count": 1, "full_name": "owner/name/../x"},
            "full_name",
        ),
        (
            "https://bitbucket.org/workspace/slug",
            "/2.0/repositories/workspace/slug",
            {"full_name": "workspace/.."},
            "full_name",
        ),
    ],
    ids=["gitlab", "gitea", "gitea-nested", "bitbucket"],
)
async def test_every_forge_refuses_an_answer_naming_a_malformed_path(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    repo_url: str,
    path: str,
    answer: dict[str, Any],
    field: str,
) -> None:
    await make_package(sessionmaker, id=1, repo_url=repo_url, **STORED)
    upstream.expect_request(path).respond_with_response(json_response(answer))
    serve_anything_else(upstream)

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    expected = REFUSED.format(field=field)
    assert requested(upstream) == [("GET", path, None)]
    package = await stored(sessionmaker, 1)
    assert package.repo_url == repo_url
    assert {column: getattr(package, column) for column in STORED} == STORED
    assert (package.last_exception, package.last_exception_count) == (expected, 1)
    assert await refused_state(sessionmaker, 1) == ("failed", expected, 1)
    assert summary.failed == 1
