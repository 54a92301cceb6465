"""Upstream values outside the stored limits, against stand-ins on loopback.

The limits are the import's (app.catalog.schemas). An answer holding a
value outside them is malformed: its source fails with "unexpected
response: FIELD: why", the values it would have set stay as stored, and
what is stored still reads, exports and goes back unchanged. A contributor
login or a documentation link outside them is left out instead.
"""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.api.links import Links
from app.auth.tokens import create_token
from app.catalog.schemas import CatalogDocument
from app.catalog.service import export_catalog
from app.config import Settings
from app.fetcher.refresh import refresh_packages
from app.models import FetchState, Package
from tests.factories import make_package
from tests.fetcher.support import configured, hits, json_response, stored
from tests.fetcher.test_github_graphql import node, serve_graphql

pytestmark = pytest.mark.usefixtures("category")

REPO = "/repos/evil/negstars"
REPO_URL = "https://github.com/evil/negstars"
OLD_WEEKS = [0] * 49 + [1, 2, 3]
OLD_DATE = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
# What the package holds before each fetch.
STORED: dict[str, Any] = {
    "repo_watchers": 77,
    "repo_forks": 7,
    "repo_description": "old text",
    "repo_archived": False,
    "participants": ["kept-login"],
    "commits_over_52": OLD_WEEKS,
    "last_updated": OLD_DATE,
    "pypi_version": "1.0",
    "documentation_url": "",
}
GOOD_REPOSITORY = {
    "full_name": "evil/negstars",
    "html_url": REPO_URL,
    "stargazers_count": 5,
    "forks_count": 1,
    "description": "fine text",
    "archived": False,
}


def values_of(package: Package) -> dict[str, Any]:
    return {column: getattr(package, column) for column in STORED}


async def state_of(
    sessionmaker: async_sessionmaker[AsyncSession], package_id: int, source: str
) -> FetchState:
    async with sessionmaker() as session:
        state = await session.get(FetchState, (package_id, source))
    assert state is not None
    return state


def serve_github(
    upstream: HTTPServer,
    repository: dict[str, Any],
    *,
    contributors: list[Any] | None = None,
    commits: list[Any] | None = None,
    weeks: Any = None,
) -> None:
    """evil/negstars: the repository answer given, the other endpoints healthy
    unless given too."""
    upstream.expect_request(REPO).respond_with_response(
        json_response(repository, headers={"ETag": 'W/"repo-1"'})
    )
    upstream.expect_request(f"{REPO}/contributors").respond_with_response(
        json_response(
            contributors
            if contributors is not None
            else [{"login": "contributor-a", "type": "User"}]
        )
    )
    upstream.expect_request(f"{REPO}/commits").respond_with_response(
        json_response(
            commits
            if commits is not None
            else [{"commit": {"committer": {"date": "2025-01-09T12:00:00Z"}}}]
        )
    )
    upstream.expect_request(f"{REPO}/stats/participation").respond_with_response(
        json_response({"all": weeks if weeks is not None else [1] * 52})
    )


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            {"stargazers_count": -5, "forks_count": -1},
            "stargazers_count: Input should be greater than or equal to 0",
        ),
        (
            {"forks_count": -1},
            "forks_count: Input should be greater than or equal to 0",
        ),
        (
            {"stargazers_count": 3_000_000_000},
            "stargazers_count: Input should be less than or equal to 2147483647",
        ),
        ({"forks_count": "5"}, "forks_count: Input should be a valid integer"),
        (
            {"stargazers_count": True},
            "stargazers_count: Input should be a valid integer",
        ),
        (
            {"description": "text\x00with a NUL"},
            "description: must not contain a NUL character",
        ),
        (
            {"description": "text\ud800with a lone surrogate"},
            "description: must be Unicode text, not a lone surrogate",
        ),
        ({"description": 5}, "description: Input should be a valid string"),
        ({"archived": "yes"}, "archived: Input should be a valid boolean"),
        (
            {"full_name": f"evil/{'n' * 600}", "html_url": None},
            "full_name: makes a repository URL too long",
        ),
    ],
    ids=[
        "negative",
        "negative-forks",
        "beyond-int32",
        "string",
        "boolean",
        "nul",
        "surrogate",
        "not-text",
        "archived-not-boolean",
        "url-too-long",
    ],
)
async def test_a_repository_answer_out_of_limits_is_refused_whole(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    answer: dict[str, Any],
    error: str,
) -> None:
    await make_package(sessionmaker, id=1, repo_url=REPO_URL, **STORED)
    serve_github(upstream, {**GOOD_REPOSITORY, **answer})

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    expected = f"unexpected response: {error}"
    package = await stored(sessionmaker, 1)
    assert values_of(package) == STORED
    assert package.repo_url == REPO_URL
    assert (package.last_exception, package.last_exception_count) == (expected, 1)
    assert package.last_fetched is None
    state = await state_of(sessionmaker, 1, "repo")
    assert (state.status, state.last_error, state.error_count) == (
        "failed",
        expected,
        1,
    )
    assert state.etags == {}  # asked in full next time, not answered 304
    assert (summary.updated, summary.failed) == (0, 1)
    # Refused before any call that would have followed.
    assert [request.path for request, _ in upstream.log] == [REPO]


@pytest.mark.parametrize(
    ("endpoint", "error", "kept"),
    [
        (
            {"weeks": [2**40] * 52},
            "all[0]: Input should be less than or equal to 2147483647",
            "commits_over_52",
        ),
        (
            {"weeks": [1] * 51 + [-1]},
            "all[51]: Input should be greater than or equal to 0",
            "commits_over_52",
        ),
        (
            {"weeks": [1] * 51},
            "all: List should have at least 52 items after validation, not 51",
            "commits_over_52",
        ),
        (
            {"commits": [{"commit": {"committer": {"date": "0001-01-01T00:00:00Z"}}}]},
            "[0].commit.committer.date: must be from the year 1900 to the year 8999",
            "last_updated",
        ),
        (
            {"commits": [{"commit": {"committer": {"date": "9999-12-31T23:59:59Z"}}}]},
            "[0].commit.committer.date: must be from the year 1900 to the year 8999",
            "last_updated",
        ),
        (
            {"commits": [{"commit": {"committer": {"date": 1736424000}}}]},
            "[0].commit.committer.date: must be an ISO 8601 date and time",
            "last_updated",
        ),
    ],
    ids=[
        "weeks-beyond-int32",
        "negative-week",
        "51-weeks",
        "year-1",
        "year-9999",
        "unix-time",
    ],
)
async def test_a_secondary_answer_out_of_limits_keeps_its_own_field(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    endpoint: dict[str, Any],
    error: str,
    kept: str,
) -> None:
    await make_package(sessionmaker, id=1, repo_url=REPO_URL, **STORED)
    serve_github(upstream, GOOD_REPOSITORY, **endpoint)

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    expected = f"unexpected response: {error}"
    fetched = {
        **STORED,
        "repo_watchers": 5,
        "repo_forks": 1,
        "repo_description": "fine text",
        "participants": ["contributor-a"],
        "commits_over_52": [1] * 52,
        "last_updated": datetime(2025, 1, 9, 12, 0, tzinfo=UTC),
    }
    package = await stored(sessionmaker, 1)
    assert values_of(package) == {**fetched, kept: STORED[kept]}
    assert (package.last_exception, package.last_exception_count) == (expected, 1)
    state = await state_of(sessionmaker, 1, "repo")
    assert (state.status, state.last_error) == ("failed", expected)
    assert summary.failed == 1


async def test_a_commit_date_without_an_offset_is_utc(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(sessionmaker, id=1, repo_url=REPO_URL, **STORED)
    serve_github(
        upstream,
        GOOD_REPOSITORY,
        commits=[{"commit": {"committer": {"date": "2025-01-09T12:00:00"}}}],
    )

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.last_updated == datetime(2025, 1, 9, 12, 0, tzinfo=UTC)
    assert (package.last_exception, package.last_exception_count) == (None, 0)


async def test_logins_out_of_limits_are_left_out_and_the_rest_stored(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(sessionmaker, id=1, repo_url=REPO_URL, **STORED)
    serve_github(
        upstream,
        GOOD_REPOSITORY,
        contributors=[
            {"login": "contributor-a", "type": "User"},
            {"login": "nul\x00login", "type": "User"},
            {"login": "lone\udc00surrogate", "type": "User"},
            {"login": 12345, "type": "User"},
            {"type": "Anonymous"},
            {"login": "contributor-b", "type": "User"},
        ],
    )

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.participants == ["contributor-a", "contributor-b"]
    assert (package.repo_watchers, package.repo_forks) == (5, 1)
    assert (package.last_exception, package.last_exception_count) == (None, 0)
    assert (await state_of(sessionmaker, 1, "repo")).status == "ok"
    assert (summary.updated, summary.failed) == (1, 0)


async def test_what_is_stored_after_refused_values_reads_and_goes_back(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    client: httpx.AsyncClient,
) -> None:
    # The answers that used to make the list and the detail answer 500.
    await make_package(sessionmaker, id=1, repo_url=REPO_URL, **STORED)
    serve_github(
        upstream,
        {**GOOD_REPOSITORY, "stargazers_count": -5, "forks_count": -1},
    )
    async with sessionmaker() as session:
        secret = await create_token(session, "tests")
        await session.commit()

    await refresh_packages(fetch_settings, sessionmaker, http_client)
    listed = await client.get("/api/v4/packages/")
    read = await client.get("/api/v4/packages/1/")
    sent_back = await client.patch(
        "/api/v4/packages/1/",
        headers={"Authorization": f"Bearer {secret}"},
        json=read.json(),
    )
    async with sessionmaker() as session:
        document = await export_catalog(session, Links(base="http://testserver"), UTC)

    assert listed.status_code == 200
    assert [p["repo_watchers"] for p in listed.json()["results"]] == [77]
    assert read.status_code == 200
    assert (read.json()["repo_watchers"], read.json()["repo_forks"]) == (77, 7)
    assert sent_back.status_code == 200
    assert sent_back.json() == read.json()
    imported = CatalogDocument.model_validate(document)
    assert [(p.repo_watchers, p.repo_forks) for p in imported.packages] == [(77, 7)]


async def test_a_graphql_entry_out_of_limits_is_read_through_rest(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(sessionmaker, id=1, repo_url=REPO_URL, **STORED)
    with_token = configured(fetch_settings, GITHUB_TOKEN="t0ken-abcdef123456")
    serve_graphql(upstream, {"evil/negstars": node("evil/negstars", stars=-5)})
    serve_github(upstream, {**GOOD_REPOSITORY, "stargazers_count": -5})

    summary = await refresh_packages(with_token, sessionmaker, http_client)

    expected = (
        "unexpected response: stargazers_count: "
        "Input should be greater than or equal to 0"
    )
    package = await stored(sessionmaker, 1)
    assert values_of(package) == STORED
    assert package.last_exception == expected
    assert len(hits(upstream, "/graphql")) == 1
    assert len(hits(upstream, REPO)) == 1
    assert summary.failed == 1


GITLAB_PROJECT = "/api/v4/projects/group/sub/project"
GITLAB_COMMITS = "/api/v4/projects/42/repository/commits"
GITEA_REPO = "/api/v1/repos/owner/name"
BITBUCKET_REPO = "/2.0/repositories/workspace/slug"


def serve_gitlab(upstream: HTTPServer, project: dict[str, Any], date: Any) -> None:
    upstream.expect_request(GITLAB_PROJECT).respond_with_response(
        json_response(
            {
                "id": 42,
                "path_with_namespace": "group/sub/project",
                "star_count": 5,
                "forks_count": 1,
                "description": "fine text",
                "archived": False,
                "empty_repo": False,
                **project,
            }
        )
    )
    upstream.expect_request(GITLAB_COMMITS).respond_with_response(
        json_response([{"id": "0" * 40, "committed_date": date}])
    )


def serve_gitea(upstream: HTTPServer, repository: dict[str, Any], date: Any) -> None:
    upstream.expect_request(GITEA_REPO).respond_with_response(
        json_response(
            {
                "full_name": "owner/name",
                "stars_count": 5,
                "forks_count": 1,
                "description": "fine text",
                "archived": False,
                "empty": False,
                **repository,
            }
        )
    )
    upstream.expect_request(f"{GITEA_REPO}/commits").respond_with_response(
        json_response([{"commit": {"committer": {"date": date}}}])
    )


def serve_bitbucket(
    upstream: HTTPServer, repository: dict[str, Any], date: Any
) -> None:
    forks = repository.pop("size", 1)
    upstream.expect_request(BITBUCKET_REPO).respond_with_response(
        json_response(
            {"full_name": "workspace/slug", "description": "fine text", **repository}
        )
    )
    upstream.expect_request(f"{BITBUCKET_REPO}/forks").respond_with_response(
        json_response({"pagelen": 1, "size": forks, "values": []})
    )
    upstream.expect_request(f"{BITBUCKET_REPO}/commits").respond_with_response(
        json_response({"pagelen": 100, "values": [{"hash": "0" * 40, "date": date}]})
    )


FORGES = {
    "gitlab": ("https://gitlab.com/group/sub/project", serve_gitlab),
    "codeberg": ("https://codeberg.org/owner/name", serve_gitea),
    "bitbucket": ("https://bitbucket.org/workspace/slug", serve_bitbucket),
}


@pytest.mark.parametrize(
    ("forge", "answer", "error"),
    [
        (
            "gitlab",
            {"star_count": -1},
            "star_count: Input should be greater than or equal to 0",
        ),
        ("gitlab", {"id": 0}, "id: Input should be greater than or equal to 1"),
        (
            "codeberg",
            {"stars_count": 3_000_000_000},
            "stars_count: Input should be less than or equal to 2147483647",
        ),
        (
            "codeberg",
            {"description": "a\x00b"},
            "description: must not contain a NUL character",
        ),
        (
            "bitbucket",
            {"size": -1},
            "size: Input should be greater than or equal to 0",
        ),
        (
            "bitbucket",
            {"description": "a\ud800b"},
            "description: must be Unicode text, not a lone surrogate",
        ),
    ],
    ids=[
        "gitlab-stars",
        "gitlab-id",
        "gitea-stars",
        "gitea-nul",
        "bitbucket-forks",
        "bitbucket-surrogate",
    ],
)
async def test_every_forge_refuses_a_repository_answer_out_of_limits(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    forge: str,
    answer: dict[str, Any],
    error: str,
) -> None:
    repo_url, serve = FORGES[forge]
    await make_package(sessionmaker, id=1, repo_url=repo_url, **STORED)
    serve(upstream, answer, "2025-01-09T12:00:00Z")

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    expected = f"unexpected response: {error}"
    package = await stored(sessionmaker, 1)
    assert values_of(package) == STORED
    assert (package.last_exception, package.last_exception_count) == (expected, 1)
    state = await state_of(sessionmaker, 1, "repo")
    assert (state.status, state.last_error) == ("failed", expected)
    assert summary.failed == 1


@pytest.mark.parametrize(
    ("forge", "date", "error"),
    [
        (
            "gitlab",
            "0001-01-01T00:00:00Z",
            "[0].committed_date: must be from the year 1900 to the year 8999",
        ),
        (
            "codeberg",
            "9999-12-31T23:59:59+00:00",
            "[0].commit.committer.date: must be from the year 1900 to the year 8999",
        ),
        (
            "bitbucket",
            None,
            "values[0].date: must be an ISO 8601 date and time",
        ),
    ],
    ids=["gitlab-year-1", "gitea-year-9999", "bitbucket-null"],
)
async def test_every_forge_keeps_the_activity_when_a_commit_date_is_out_of_limits(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    forge: str,
    date: Any,
    error: str,
) -> None:
    repo_url, serve = FORGES[forge]
    await make_package(sessionmaker, id=1, repo_url=repo_url, **STORED)
    serve(upstream, {}, date)

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    expected = f"unexpected response: {error}"
    package = await stored(sessionmaker, 1)
    assert (package.commits_over_52, package.last_updated) == (OLD_WEEKS, OLD_DATE)
    assert (package.repo_forks, package.repo_description) == (1, "fine text")
    assert (package.last_exception, package.last_exception_count) == (expected, 1)


PYPI_PROJECT = "/pypi/example-project/json"


def pypi_answer(
    version: Any = "2.0", project_urls: dict[str, Any] | None = None, **info: Any
) -> dict[str, Any]:
    return {
        "info": {
            "name": "example-project",
            "version": version,
            "project_urls": project_urls,
            "classifiers": ["Programming Language :: Python :: 3"],
            **info,
        },
        "releases": {"2.0": [{"upload_time_iso_8601": "2025-01-09T12:00:00Z"}]},
        "urls": [{"upload_time_iso_8601": "2025-01-09T12:00:00Z"}],
    }


@pytest.mark.parametrize(
    ("version", "error"),
    [
        ("1." * 2500, "info.version: String should have at most 100 characters"),
        ("2.0\x00", "info.version: must not contain a NUL character"),
        ("2.0\udfff", "info.version: must be Unicode text, not a lone surrogate"),
    ],
    ids=["5000-characters", "nul", "surrogate"],
)
async def test_a_pypi_version_out_of_limits_refuses_the_answer(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    version: str,
    error: str,
) -> None:
    await make_package(sessionmaker, id=1, pypi_url="example-project", **STORED)
    upstream.expect_request(PYPI_PROJECT).respond_with_response(
        json_response(pypi_answer(version), headers={"ETag": '"pypi-1"'})
    )

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    expected = f"unexpected response: {error}"
    package = await stored(sessionmaker, 1)
    assert values_of(package) == STORED
    assert (package.pypi_released_at, package.python3) == (None, None)
    assert (package.last_exception, package.last_exception_count) == (expected, 1)
    state = await state_of(sessionmaker, 1, "pypi")
    assert (state.status, state.last_error, state.etags) == ("failed", expected, {})
    assert summary.failed == 1


async def test_pypi_links_and_upload_times_out_of_limits_are_left_out(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(sessionmaker, id=1, pypi_url="example-project", **STORED)
    answer = pypi_answer(
        project_urls={
            "Documentation": f"https://docs.example.org/{'d' * 3000}",
            "Docs": "https://docs.example.org/with\x00nul",
            "Docs (spaced)": "https://docs.example.org/a page",
            "docs: rtd": "https://example-project.readthedocs.io/",
        }
    )
    answer["urls"] = [
        {"upload_time_iso_8601": "0001-01-01T00:00:00Z"},
        {"upload_time_iso_8601": "2025-01-10T08:30:00Z"},
        {"upload_time": "2025-01-09T12:00:00"},
    ]
    upstream.expect_request(PYPI_PROJECT).respond_with_response(json_response(answer))

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.pypi_version == "2.0"
    assert package.documentation_url == "https://example-project.readthedocs.io/"
    assert package.pypi_released_at == datetime(2025, 1, 9, 12, 0, tzinfo=UTC)
    assert (package.last_exception, package.last_exception_count) == (None, 0)
    assert (summary.updated, summary.failed) == (1, 0)


async def test_an_upstream_error_message_is_stored_without_unstorable_characters(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(sessionmaker, id=1, repo_url=REPO_URL, **STORED)
    upstream.expect_request(REPO).respond_with_response(
        json_response({"message": "Not\x00Found\ud800"}, status=404)
    )

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    expected = "404 Not\ufffdFound\ufffd"
    package = await stored(sessionmaker, 1)
    assert values_of(package) == STORED
    assert (package.last_exception, package.last_exception_count) == (expected, 1)
    assert (await state_of(sessionmaker, 1, "repo")).last_error == expected
