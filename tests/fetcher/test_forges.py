"""What every forge shares: which host goes to which client, tokens, settings."""

from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.fetcher.refresh import refresh_packages
from app.packages.repo_url import RepoRef, forge_hosts, parse_repo_url
from tests.factories import make_package
from tests.fetcher.support import (
    base_url,
    configured,
    json_response,
    load,
    stored,
)
from tests.fetcher.test_github import serve_repo

pytestmark = pytest.mark.usefixtures("category")

NOW = datetime(2024, 1, 13, tzinfo=UTC)
GITLAB_PROJECT = load(
    "gitlab/projects-lansharkconsulting-django-django-encrypted-model-fields.json"
)["body"]
GITEA_REPO = load("gitea/forgejo-repos-alice-test_repo.json")["body"]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.fetcher.activity.utcnow", lambda: NOW)


@pytest.mark.parametrize(
    "repo_url",
    [
        "https://git.example.org/example-group/example-project",
        "https://sr.ht/~someone/example-repo",
        "http://code.google.com/p/example-project",
    ],
)
async def test_a_repository_on_an_unsupported_host_costs_no_request(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    repo_url: str,
) -> None:
    await make_package(
        sessionmaker,
        id=1,
        repo_url=repo_url,
        repo_watchers=21,
        repo_forks=3,
        participants=["someone"],
        commits_over_52=[1] * 52,
    )

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert upstream.log == []
    assert (package.repo_watchers, package.repo_forks) == (21, 3)
    assert (package.participants, package.commits_over_52) == (["someone"], [1] * 52)
    assert package.repo_url == repo_url
    assert package.last_exception is None
    assert (summary.updated, summary.unchanged, summary.failed) == (0, 1, 0)


@pytest.mark.parametrize(
    ("repo_url", "path", "body", "expected"),
    [
        (
            "https://gitlab.com/example-group/example-project",
            "/api/v4/projects/example-group/example-project",
            {**GITLAB_PROJECT, "star_count": 57, "forks_count": 9, "empty_repo": True},
            (57, 9),
        ),
        (
            "https://codeberg.org/example-org/example-repo",
            "/api/v1/repos/example-org/example-repo",
            {
                **GITEA_REPO,
                "stars_count": 95,
                "watchers_count": 20,
                "forks_count": 12,
                "empty": True,
            },
            (95, 12),
        ),
    ],
    ids=["gitlab", "forgejo"],
)
async def test_watchers_means_stars_on_every_forge(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    repo_url: str,
    path: str,
    body: dict[str, object],
    expected: tuple[int, int],
) -> None:
    # Case 009, other_forges: star_count / stars_count, never watchers_count.
    await make_package(sessionmaker, id=1, repo_url=repo_url)
    upstream.expect_request(path).respond_with_response(json_response(body))

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (package.repo_watchers, package.repo_forks) == expected


async def test_each_token_goes_to_its_own_forge_only(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    clock: None,
) -> None:
    base = base_url(upstream)
    settings = configured(
        fetch_settings.model_copy(
            update={
                "github_token": SecretStr("t-github"),
                "gitlab_token": SecretStr("t-gitlab-com"),
                "bitbucket_token": SecretStr("t-bitbucket"),
                "codeberg_token": SecretStr("t-codeberg"),
            }
        ),
        GITLAB_HOSTS=f"gitlab.example.org={base}/gl/api/v4,gitlab.other.example",
        GITLAB_HOST_TOKENS="gitlab.example.org=t-gitlab-self",
        GITEA_HOSTS=f"gitea.example.org={base}/gt/api/v1",
        GITEA_HOST_TOKENS="gitea.example.org=t-gitea-self",
    )
    repos = {
        1: "https://github.com/example-org/example-repo",
        2: "https://gitlab.com/example-group/example-project",
        3: "https://bitbucket.org/example-org/example-repo",
        4: "https://codeberg.org/example-org/example-repo",
        5: "https://gitlab.example.org/example-group/example-project",
        6: "https://gitea.example.org/example-org/example-repo",
    }
    for package_id, repo_url in repos.items():
        await make_package(sessionmaker, id=package_id, repo_url=repo_url)
    await make_package(sessionmaker, id=7, pypi_url="example-pkg")
    serve_repo(upstream)
    for prefix in ("/api/v4", "/gl/api/v4"):
        upstream.expect_request(
            f"{prefix}/projects/example-group/example-project"
        ).respond_with_response(json_response({**GITLAB_PROJECT, "empty_repo": True}))
    for prefix in ("/api/v1", "/gt/api/v1"):
        upstream.expect_request(
            f"{prefix}/repos/example-org/example-repo"
        ).respond_with_response(json_response({**GITEA_REPO, "empty": True}))
    bitbucket = "/2.0/repositories/example-org/example-repo"
    upstream.expect_request(bitbucket).respond_with_response(
        json_response({"full_name": "example-org/example-repo", "description": ""})
    )
    upstream.expect_request(f"{bitbucket}/forks").respond_with_response(
        json_response({"pagelen": 1, "size": 0, "values": []})
    )
    upstream.expect_request(f"{bitbucket}/commits").respond_with_response(
        json_response({"pagelen": 100, "values": []})
    )
    upstream.expect_request("/pypi/example-pkg/json").respond_with_response(
        json_response({"info": {"version": "1.0"}, "releases": {}})
    )

    summary = await refresh_packages(settings, sessionmaker, http_client)

    sent: dict[str, set[str | None]] = {}
    for request, _ in upstream.log:
        prefix = "/".join(request.path.split("/")[:3])
        sent.setdefault(prefix, set()).add(request.headers.get("Authorization"))
    assert sent == {
        "/graphql": {"Bearer t-github"},  # unanswered here, so REST follows
        "/repos/example-org": {"Bearer t-github"},
        "/api/v4": {"Bearer t-gitlab-com"},
        "/2.0/repositories": {"Bearer t-bitbucket"},
        "/api/v1": {"token t-codeberg"},
        "/gl/api": {"Bearer t-gitlab-self"},
        "/gt/api": {"token t-gitea-self"},
        "/pypi/example-pkg": {None},
    }
    assert (summary.updated, summary.failed) == (7, 0)


def test_self_hosted_hosts_parse_like_their_forge() -> None:
    hosts = forge_hosts(gitlab=["git.example.org"], gitea=["forgejo.example"])

    assert parse_repo_url(
        "https://git.example.org/group/sub-group/project/-/tree/main", hosts
    ) == RepoRef("gitlab", "git.example.org", "group/sub-group/project")
    assert parse_repo_url(
        "https://forgejo.example/Alice/Test_Repo/src/branch/main/docs", hosts
    ) == RepoRef("gitea", "forgejo.example", "Alice/Test_Repo")
    assert (
        RepoRef("gitea", "forgejo.example", "Alice/Test_Repo").canonical_url
        == "https://forgejo.example/alice/test_repo"
    )
    assert parse_repo_url("https://git.example.org/group/project") is None
    assert parse_repo_url("https://codeberg.org/o/r", hosts) == RepoRef(
        "codeberg", "codeberg.org", "o/r"
    )


def make_settings(**environment: str) -> Settings:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        return Settings(_env_file=None)  # type: ignore[call-arg]


def test_forge_settings_default_to_the_public_apis() -> None:
    settings = make_settings()

    assert settings.gitlab_api_url == "https://gitlab.com/api/v4"
    assert settings.bitbucket_api_url == "https://api.bitbucket.org/2.0"
    assert settings.codeberg_api_url == "https://codeberg.org/api/v1"
    assert (settings.gitlab_hosts, settings.gitea_hosts) == ({}, {})
    assert (settings.gitlab_host_tokens, settings.gitea_host_tokens) == ({}, {})
    assert settings.fetch_commit_pages == 10


def test_hosts_take_a_host_or_host_equals_api_url() -> None:
    settings = make_settings(
        GITLAB_HOSTS=" Git.Example.org , gl.example.net=http://127.0.0.1:9/gitlab/api/v4/,",
        GITEA_HOSTS="www.forgejo.example",
        GITLAB_HOST_TOKENS="git.example.org=glpat-one, gl.example.net=glpat-two",
        GITEA_HOST_TOKENS="forgejo.example=gitea-token",
        GITLAB_TOKEN="",
        BITBUCKET_TOKEN="bb-token",
    )

    assert settings.gitlab_hosts == {
        "git.example.org": "https://git.example.org/api/v4",
        "gl.example.net": "http://127.0.0.1:9/gitlab/api/v4",
    }
    assert settings.gitea_hosts == {"forgejo.example": "https://forgejo.example/api/v1"}
    assert {
        host: token.get_secret_value()
        for host, token in settings.gitlab_host_tokens.items()
    } == {"git.example.org": "glpat-one", "gl.example.net": "glpat-two"}
    assert settings.gitea_host_tokens["forgejo.example"].get_secret_value() == (
        "gitea-token"
    )
    assert settings.gitlab_token is None  # blank is unset
    assert settings.bitbucket_token == SecretStr("bb-token")
    assert "glpat-one" not in repr(settings)


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        (
            {"GITLAB_HOSTS": "git.example.org,not a host"},
            "gitlab_hosts\n  Value error, entry 2 ('not a host') does not start with a host name",
        ),
        (
            {"GITEA_HOSTS": "forgejo.example="},
            "gitea_hosts\n  Value error, entry 1 ('forgejo.example=') for forgejo.example is not of the form HOST or HOST=API_BASE_URL",
        ),
        (
            {"GITEA_HOSTS": "forgejo.example=ftp://forgejo.example/api/v1"},
            "gitea_hosts\n  Value error, the API of 'forgejo.example' is not an http(s) URL",
        ),
        (
            {"GITLAB_HOSTS": "git.example.org,GIT.example.org"},
            "gitlab_hosts\n  Value error, entry 2 ('GIT.example.org') repeats git.example.org",
        ),
        (
            {"GITLAB_HOSTS": "git.example.org", "GITLAB_HOST_TOKENS": "glpat-secret"},
            "gitlab_host_tokens\n  Value error, entry 1 does not start with a host name",
        ),
        (
            {
                "GITLAB_HOSTS": "git.example.org",
                "GITLAB_HOST_TOKENS": "git.example.org",
            },
            "gitlab_host_tokens\n  Value error, entry 1 for git.example.org is not of the form HOST=TOKEN",
        ),
        (
            {"GITEA_HOST_TOKENS": "forgejo.example=gitea-secret"},
            "GITEA_HOST_TOKENS names forgejo.example, which GITEA_HOSTS does not list",
        ),
        (
            {"GITLAB_HOSTS": "git.example.org", "GITEA_HOSTS": "git.example.org"},
            "git.example.org is in both GITLAB_HOSTS and GITEA_HOSTS",
        ),
        (
            {"GITLAB_HOSTS": "gitlab.com"},
            "GITLAB_HOSTS lists gitlab.com, which has settings of its own",
        ),
    ],
)
def test_an_invalid_entry_is_a_settings_error_naming_it(
    environment: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        make_settings(**environment)

    text = str(caught.value)
    assert message in text
    assert "secret" not in text
