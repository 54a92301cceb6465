"""GitHub with a token: repository fields by GraphQL, in batches, on loopback.

No GraphQL answer was captured (tests/data/upstream holds GitHub REST
captures only), so the stand-in answers in the shape GitHub documents: each
alias of the query maps to its repository under `data`, or to null with an
`errors` entry (`type`, `path` [alias], `message`) saying why.
https://docs.github.com/en/graphql/guides/forming-calls-with-graphql#communicating-with-graphql
"""

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import structlog
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from werkzeug import Request, Response

from app.config import Settings
from app.fetcher import github
from app.fetcher.limiter import Limiters, use_limiters
from app.fetcher.refresh import refresh_packages
from app.models import FetchState
from tests.factories import make_package
from tests.fetcher.support import (
    FakeClock,
    base_url,
    hits,
    json_response,
    replay,
    stored,
)
from tests.fetcher.test_github import serve_repo, serve_repo_endpoints

pytestmark = pytest.mark.usefixtures("category")

TOKEN = "t0ken-abcdef123456"
NAMES = ("alpha", "beta", "gamma")
_LOOKUP = re.compile(r"(\w+): repository\(owner: \$(\w+), name: \$(\w+)\)")


def node(
    path: str,
    *,
    stars: int = 5,
    forks: int = 1,
    description: str | None = "placeholder",
    archived: bool = False,
    committed: str | None = "2025-01-09T12:00:00Z",
) -> dict[str, Any]:
    """A repository as GraphQL answers the query's fields for it."""
    return {
        "nameWithOwner": path,
        "url": f"https://github.com/{path}",
        "stargazerCount": stars,
        "forkCount": forks,
        "description": description,
        "isArchived": archived,
        "isEmpty": committed is None,
        "defaultBranchRef": (
            None if committed is None else {"target": {"committedDate": committed}}
        ),
    }


class StandInGraphQL:
    """POST /graphql: answers each aliased `repository` lookup from `repos`.

    A path missing from `repos` is NOT_FOUND. `bodies` keeps every request's
    JSON body, in order.
    """

    def __init__(self, repos: dict[str, dict[str, Any]]) -> None:
        self.repos = repos
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: Request) -> Response:
        body = request.get_json()
        self.bodies.append(body)
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for alias, owner, name in _LOOKUP.findall(body["query"]):
            path = f"{body['variables'][owner]}/{body['variables'][name]}"
            data[alias] = self.repos.get(path)
            if data[alias] is None:
                errors.append(
                    {
                        "type": "NOT_FOUND",
                        "path": [alias],
                        "locations": [{"line": 2, "column": 3}],
                        "message": f"Could not resolve to a Repository with the name '{path}'.",
                    }
                )
        return json_response({"data": data, **({"errors": errors} if errors else {})})


def serve_graphql(
    upstream: HTTPServer, repos: dict[str, dict[str, Any]]
) -> StandInGraphQL:
    graphql = StandInGraphQL(repos)
    upstream.expect_request("/graphql", method="POST").respond_with_handler(graphql)
    return graphql


def rest_repository_calls(upstream: HTTPServer) -> list[str]:
    """The paths of every REST /repos/{owner}/{repo} and /commits request."""
    return [
        request.path
        for request, _ in upstream.log
        if re.fullmatch(r"/repos/[^/]+/[^/]+(/commits)?", request.path)
    ]


@pytest.fixture
def with_token(fetch_settings: Settings) -> Settings:
    return fetch_settings.model_copy(update={"github_token": SecretStr(TOKEN)})


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> structlog.testing.CapturingLogger:
    # The module's own logger, replaced: structlog may have cached the real one.
    capturing = structlog.testing.CapturingLogger()
    monkeypatch.setattr(github, "log", capturing)
    return capturing


async def make_batch(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    for package_id, name in enumerate(NAMES, start=1):
        await make_package(
            sessionmaker,
            id=package_id,
            repo_url=f"https://github.com/example-org/{name}",
            repo_watchers=77,
            repo_description="old text",
        )


async def test_one_query_answers_the_repository_fields_of_a_batch(
    with_token: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_batch(sessionmaker)
    graphql = serve_graphql(
        upstream,
        {
            "example-org/alpha": node("example-org/alpha", stars=120, forks=7),
            "example-org/beta": node(
                "example-org/beta",
                stars=3,
                forks=0,
                description=None,
                archived=True,
                committed="2024-06-30T08:15:00Z",
            ),
            "example-org/gamma": node("example-org/gamma", description="Gamma"),
        },
    )
    for name in NAMES:
        serve_repo_endpoints(upstream, f"/repos/example-org/{name}")

    summary = await refresh_packages(with_token, sessionmaker, http_client)

    (body,) = graphql.bodies
    assert body["variables"] == {
        "owner0": "example-org",
        "name0": "alpha",
        "owner1": "example-org",
        "name1": "beta",
        "owner2": "example-org",
        "name2": "gamma",
    }
    assert _LOOKUP.findall(body["query"]) == [
        ("r0", "owner0", "name0"),
        ("r1", "owner1", "name1"),
        ("r2", "owner2", "name2"),
    ]
    assert "example-org" not in body["query"]  # values travel as variables
    request = hits(upstream, "/graphql")[0]
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert rest_repository_calls(upstream) == []
    for name in NAMES:
        path = f"/repos/example-org/{name}"
        assert len(hits(upstream, f"{path}/contributors")) == 1
        assert len(hits(upstream, f"{path}/stats/participation")) == 1

    alpha, beta, gamma = [await stored(sessionmaker, n) for n in (1, 2, 3)]
    assert (alpha.repo_watchers, alpha.repo_forks) == (120, 7)
    assert (alpha.repo_description, alpha.repo_archived) == ("placeholder", False)
    assert alpha.last_updated == datetime(2025, 1, 9, 12, tzinfo=UTC)
    assert (beta.repo_watchers, beta.repo_forks) == (3, 0)
    assert (beta.repo_description, beta.repo_archived) == ("", True)
    assert beta.last_updated == datetime(2024, 6, 30, 8, 15, tzinfo=UTC)
    assert (gamma.repo_watchers, gamma.repo_description) == (5, "Gamma")
    for package in (alpha, beta, gamma):
        assert package.participants == ["contributor-a", "contributor-b"]
        assert package.commits_over_52 == [1] * 52
        assert (package.last_exception, package.last_exception_count) == (None, 0)
        assert package.last_fetched is not None
    assert (summary.updated, summary.failed) == (3, 0)


async def test_an_empty_repository_by_graphql_follows_the_empty_rules(
    with_token: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    path = "/repos/example-org/empty-repo"
    await make_package(
        sessionmaker,
        id=1,
        repo_url="https://github.com/example-org/empty-repo",
        participants=["someone"],
        last_updated=datetime(2020, 1, 1, tzinfo=UTC),
    )
    serve_graphql(
        upstream,
        {"example-org/empty-repo": node("example-org/empty-repo", committed=None)},
    )
    upstream.expect_request(f"{path}/contributors").respond_with_response(
        Response(status=204)
    )
    upstream.expect_request(f"{path}/stats/participation").respond_with_response(
        Response(status=204)
    )

    await refresh_packages(with_token, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (package.repo_watchers, package.repo_forks) == (5, 1)
    assert package.participants == []
    assert package.commits_over_52 == [0] * 52
    assert package.last_updated is None
    assert package.last_exception is None
    assert rest_repository_calls(upstream) == []


async def test_150_repositories_take_two_queries(
    with_token: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    paths = [f"example-org/repo-{n:03}" for n in range(1, 151)]
    for package_id, path in enumerate(paths, start=1):
        await make_package(
            sessionmaker, id=package_id, repo_url=f"https://github.com/{path}"
        )
    graphql = serve_graphql(
        upstream,
        {path: node(path, stars=n) for n, path in enumerate(paths, start=1)},
    )
    upstream.expect_request(
        re.compile(r"/repos/example-org/repo-\d+/contributors")
    ).respond_with_response(json_response([{"login": "contributor-a"}]))
    upstream.expect_request(
        re.compile(r"/repos/example-org/repo-\d+/stats/participation")
    ).respond_with_response(json_response({"all": [2] * 52}))

    summary = await refresh_packages(with_token, sessionmaker, http_client)

    assert [len(body["variables"]) for body in graphql.bodies] == [200, 100]
    assert graphql.bodies[1]["variables"]["name0"] == "repo-101"
    assert rest_repository_calls(upstream) == []
    first, last = await stored(sessionmaker, 1), await stored(sessionmaker, 150)
    assert (first.repo_watchers, first.participants) == (1, ["contributor-a"])
    assert (last.repo_watchers, last.commits_over_52) == (150, [2] * 52)
    assert (summary.updated, summary.failed) == (150, 0)


async def test_a_repository_graphql_cannot_find_is_asked_through_rest(
    with_token: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_batch(sessionmaker)
    serve_graphql(
        upstream,
        {
            "example-org/alpha": node("example-org/alpha", stars=120),
            "example-org/gamma": node("example-org/gamma", stars=9),
        },
    )
    upstream.expect_request("/repos/example-org/beta").respond_with_response(
        replay(upstream, "github/repos-djangopackages-does-not-exist-404.json")
    )
    for name in ("alpha", "gamma"):
        serve_repo_endpoints(upstream, f"/repos/example-org/{name}")

    summary = await refresh_packages(with_token, sessionmaker, http_client)

    alpha, beta, gamma = [await stored(sessionmaker, n) for n in (1, 2, 3)]
    assert (alpha.repo_watchers, gamma.repo_watchers) == (120, 9)
    assert (beta.repo_watchers, beta.repo_description) == (77, "old text")
    assert (beta.last_exception, beta.last_exception_count) == ("404 Not Found", 1)
    assert beta.last_fetched is None
    async with sessionmaker() as session:
        state = await session.get(FetchState, (2, "repo"))
    assert state is not None
    assert (state.status, state.not_found_count) == ("not_found", 1)
    assert rest_repository_calls(upstream) == ["/repos/example-org/beta"]
    assert hits(upstream, "/repos/example-org/beta/contributors") == []
    assert len(hits(upstream, "/graphql")) == 1
    assert (summary.updated, summary.failed) == (2, 1)


@pytest.mark.parametrize(
    ("answer", "asked", "status", "error"),
    [
        (
            Response("<html>Bad Gateway</html>", status=502, content_type="text/html"),
            3,
            502,
            "transient: 502",
        ),
        (
            json_response(
                {"message": f"Bad credentials: sent token {TOKEN}"}, status=401
            ),
            1,
            401,
            "401 Bad credentials: sent token [redacted]",
        ),
        (
            Response('{"data": {"r0": ', content_type="application/json"),
            3,
            200,
            "transient: malformed JSON",
        ),
        (
            json_response(
                {
                    "errors": [
                        {
                            "message": "Something went wrong while executing your query.",
                            "locations": [],
                        }
                    ]
                }
            ),
            1,
            200,
            "unexpected GraphQL response: Something went wrong while executing your query.",
        ),
    ],
    ids=["502", "401", "malformed-json", "no-data"],
)
async def test_a_failed_query_leaves_the_whole_batch_to_rest(
    with_token: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    logged: structlog.testing.CapturingLogger,
    answer: Response,
    asked: int,
    status: int,
    error: str,
) -> None:
    for package_id, name in ((1, "example-repo"), (2, "other-repo")):
        await make_package(
            sessionmaker,
            id=package_id,
            repo_url=f"https://github.com/example-org/{name}",
            repo_watchers=77,
        )
    upstream.expect_request("/graphql", method="POST").respond_with_response(answer)
    serve_repo(upstream, stars=11, forks=2, description="Example")
    serve_repo(upstream, "/repos/example-org/other-repo", stars=12, description=None)

    summary = await refresh_packages(with_token, sessionmaker, http_client)

    assert len(hits(upstream, "/graphql")) == asked
    assert [(call.method_name, call.args, call.kwargs) for call in logged.calls] == [
        (
            "warning",
            ("fetch.graphql_failed",),
            {
                "url": f"{base_url(upstream)}/graphql",
                "status": status,
                "error": error,
                "repositories": 2,
            },
        )
    ]
    assert sorted(rest_repository_calls(upstream)) == [
        "/repos/example-org/example-repo",
        "/repos/example-org/example-repo/commits",
        "/repos/example-org/other-repo",
        "/repos/example-org/other-repo/commits",
    ]
    first, second = await stored(sessionmaker, 1), await stored(sessionmaker, 2)
    assert (first.repo_watchers, first.repo_forks) == (11, 2)
    assert first.repo_description == "Example"
    assert (second.repo_watchers, second.repo_description) == (12, "")
    for package in (first, second):
        assert package.participants == ["contributor-a"]
        assert package.last_updated == datetime(2025, 1, 9, 12, tzinfo=UTC)
        assert package.last_exception is None
    assert (summary.updated, summary.failed) == (2, 0)


async def test_a_rename_answered_by_graphql_moves_repo_url(
    with_token: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    old_url = "https://github.com/old-owner/old-name"
    await make_package(sessionmaker, id=5200, repo_url=old_url, repo_watchers=300)
    # GitHub resolves the old name to the repository under its new one.
    serve_graphql(
        upstream,
        {"old-owner/old-name": node("new-owner/new-name", stars=512, forks=40)},
    )
    serve_repo_endpoints(upstream, "/repos/new-owner/new-name")

    await refresh_packages(with_token, sessionmaker, http_client)

    package = await stored(sessionmaker, 5200)
    assert package.repo_url == "https://github.com/new-owner/new-name"
    assert package.repo_key == "https://github.com/new-owner/new-name"
    assert (package.repo_watchers, package.repo_forks) == (512, 40)
    assert package.participants == ["contributor-a", "contributor-b"]
    async with sessionmaker() as session:
        state = await session.get(FetchState, (5200, "repo"))
    assert state is not None
    assert (state.previous_urls, state.status) == ([old_url], "ok")
    assert hits(upstream, "/repos/old-owner/old-name/contributors") == []
    assert rest_repository_calls(upstream) == []


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        # The primary limit: the quota is spent until the reset.
        (200, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1735689600"}, 601),
        # A limit that says nothing of when: waited out as a secondary one.
        (403, {}, 60),
    ],
)
async def test_a_rate_limited_query_is_waited_out_and_asked_again(
    with_token: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    status: int,
    headers: dict[str, str],
    wait: int,
) -> None:
    await make_package(
        sessionmaker, id=1, repo_url="https://github.com/example-org/example-repo"
    )
    upstream.expect_oneshot_request("/graphql", method="POST").respond_with_response(
        json_response(
            {
                "errors": [
                    {
                        "type": "RATE_LIMITED",
                        "message": "API rate limit exceeded for user ID 1000001.",
                    }
                ]
            },
            status=status,
            headers=headers,
        )
    )
    serve_graphql(
        upstream, {"example-org/example-repo": node("example-org/example-repo")}
    )
    serve_repo_endpoints(upstream, "/repos/example-org/example-repo")
    clock = FakeClock(1735689000, auto=True)
    patient = with_token.model_copy(update={"fetch_rate_limit_max_wait": 3600.0})
    use_limiters(http_client, Limiters(patient, clock=clock.time, sleep=clock.sleep))

    summary = await refresh_packages(patient, sessionmaker, http_client)

    assert clock.delays == [wait]
    assert len(hits(upstream, "/graphql")) == 2
    assert rest_repository_calls(upstream) == []
    assert (await stored(sessionmaker, 1)).repo_watchers == 5
    assert (summary.updated, summary.failed, summary.rate_limited) == (1, 0, 0)


async def test_without_a_token_graphql_is_never_asked(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker, id=1, repo_url="https://github.com/example-org/example-repo"
    )
    serve_graphql(
        upstream, {"example-org/example-repo": node("example-org/example-repo")}
    )
    serve_repo(upstream, stars=44)

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    assert hits(upstream, "/graphql") == []
    assert rest_repository_calls(upstream) == [
        "/repos/example-org/example-repo",
        "/repos/example-org/example-repo/commits",
    ]
    assert (await stored(sessionmaker, 1)).repo_watchers == 44
