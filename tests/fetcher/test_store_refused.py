"""A value the database refuses costs its own package only, as a recorded failure.

The checks of app.fetcher.checks keep every value we know of within the
columns' limits; should one still be refused (a constraint, a trigger, a
limit no check knows), the package's fetch fails with the database's
reason, nothing fetched for it is stored, and the others are stored. It is
not "database unavailable", which would record nothing and ask again at
once. A trigger that refuses 4242 stars stands in for such a limit, on
SQLite and on PostgreSQL.
"""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.fetcher import github
from app.fetcher.checks import Answer
from app.fetcher.refresh import PackageOutcome, refresh_packages
from app.models import FetchState
from tests.conftest import NOWHERE
from tests.factories import make_fetch_state, make_package
from tests.fetcher.support import base_url, json_response, stored
from tests.fetcher.test_github import serve_repo_endpoints

pytestmark = pytest.mark.usefixtures("category")

REFUSED_STARS = 4242
REASON = "repo_watchers out of range"
OLD_ETAGS = {"repo": 'W/"old"'}

_SQLITE_TRIGGER = f"""
CREATE TRIGGER test_refuse_stars BEFORE UPDATE OF repo_watchers ON packages
WHEN NEW.repo_watchers = {REFUSED_STARS}
BEGIN SELECT RAISE(ABORT, '{REASON}'); END
"""
# numeric_value_out_of_range: what PostgreSQL says of a number too large.
_POSTGRES_FUNCTION = f"""
CREATE FUNCTION test_refuse_stars() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.repo_watchers = {REFUSED_STARS} THEN
        RAISE EXCEPTION '{REASON}' USING ERRCODE = 'numeric_value_out_of_range';
    END IF;
    RETURN NEW;
END $$
"""
_POSTGRES_TRIGGER = """
CREATE TRIGGER test_refuse_stars BEFORE UPDATE ON packages
FOR EACH ROW EXECUTE FUNCTION test_refuse_stars()
"""


@pytest.fixture
async def refusing(engine: AsyncEngine) -> AsyncIterator[None]:
    """The database refuses to store 4242 stars, for this test only."""
    postgres = engine.dialect.name == "postgresql"
    async with engine.begin() as connection:
        if postgres:
            await connection.execute(text(_POSTGRES_FUNCTION))
            await connection.execute(text(_POSTGRES_TRIGGER))
        else:
            await connection.execute(text(_SQLITE_TRIGGER))
    yield
    async with engine.begin() as connection:
        if postgres:
            await connection.execute(text("DROP TRIGGER test_refuse_stars ON packages"))
            await connection.execute(text("DROP FUNCTION test_refuse_stars()"))
        else:
            await connection.execute(text("DROP TRIGGER test_refuse_stars"))


def serve_stars(upstream: HTTPServer, name: str, stars: int, description: Any) -> None:
    path = f"/repos/example-org/{name}"
    upstream.expect_request(path).respond_with_response(
        json_response(
            {
                "full_name": f"example-org/{name}",
                "html_url": f"https://github.com/example-org/{name}",
                "stargazers_count": stars,
                "forks_count": 3,
                "description": description,
            },
            headers={"ETag": 'W/"new"'},
        )
    )
    serve_repo_endpoints(upstream, path)


async def make_three(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    for package_id, name in enumerate(("alpha", "beta", "gamma"), start=1):
        await make_package(
            sessionmaker,
            id=package_id,
            repo_url=f"https://github.com/example-org/{name}",
            repo_watchers=77,
            repo_description="old text",
        )
        await make_fetch_state(
            sessionmaker, package_id=package_id, source="repo", etags=OLD_ETAGS
        )


async def state_of(
    sessionmaker: async_sessionmaker[AsyncSession], package_id: int
) -> FetchState:
    async with sessionmaker() as session:
        state = await session.get(FetchState, (package_id, "repo"))
    assert state is not None
    return state


@pytest.mark.usefixtures("refusing")
async def test_a_refused_value_fails_its_package_and_the_others_are_stored(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_three(sessionmaker)
    serve_stars(upstream, "alpha", 10, "new text")
    serve_stars(upstream, "beta", REFUSED_STARS, "new text")
    serve_stars(upstream, "gamma", 30, "new text")
    outcomes: list[PackageOutcome] = []

    summary = await refresh_packages(
        fetch_settings, sessionmaker, http_client, on_progress=outcomes.append
    )

    expected = f"not stored: the database refused a value: {REASON}"
    alpha, beta, gamma = [await stored(sessionmaker, n) for n in (1, 2, 3)]
    assert (alpha.repo_watchers, alpha.repo_description) == (10, "new text")
    assert (gamma.repo_watchers, gamma.repo_description) == (30, "new text")
    assert (beta.repo_watchers, beta.repo_forks, beta.repo_description) == (
        77,
        0,
        "old text",
    )
    assert (beta.participants, beta.commits_over_52) == ([], [])
    assert (beta.last_exception, beta.last_exception_count) == (expected, 1)
    assert beta.last_fetched is None
    state = await state_of(sessionmaker, 2)
    assert (state.status, state.last_error, state.error_count) == (
        "failed",
        expected,
        1,
    )
    # The answer was not stored, so its ETag is not kept either.
    assert state.etags == OLD_ETAGS
    assert (await state_of(sessionmaker, 1)).etags == {"repo": 'W/"new"'}
    assert (summary.updated, summary.failed) == (2, 1)
    assert [(o.slug, o.status, o.message) for o in outcomes if o.package_id == 2] == [
        ("package-2", "failed", expected)
    ]


class _Unchecked(Answer):
    """GitHub's repository answer read without the limits, as if a check
    had missed a value: what reaches PostgreSQL is what it refuses."""

    stargazers_count: int
    forks_count: int
    description: str | None = None
    archived: bool = False
    full_name: str | None = None
    html_url: str | None = None


@pytest.mark.parametrize(
    ("stars", "description", "reason"),
    [
        (
            3_000_000_000,
            "new text",
            "invalid input for query argument $1: 3000000000 (value out of int32 range)",
        ),
        (10, "new\x00text", 'invalid byte sequence for encoding "UTF8": 0x00'),
    ],
    ids=["beyond-int32", "nul"],
)
async def test_postgres_refusing_a_value_is_that_package_failure(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
    stars: int,
    description: str,
    reason: str,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores these values; PostgreSQL refuses them")
    monkeypatch.setattr(github, "_Repository", _Unchecked)
    await make_three(sessionmaker)
    serve_stars(upstream, "alpha", 10, "new text")
    serve_stars(upstream, "beta", stars, description)
    serve_stars(upstream, "gamma", 30, "new text")

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    expected = f"not stored: the database refused a value: {reason}"
    alpha, beta, gamma = [await stored(sessionmaker, n) for n in (1, 2, 3)]
    assert (alpha.repo_watchers, gamma.repo_watchers) == (10, 30)
    assert (beta.repo_watchers, beta.repo_description) == (77, "old text")
    assert (beta.last_exception, beta.last_exception_count) == (expected, 1)
    state = await state_of(sessionmaker, 2)
    assert (state.status, state.last_error, state.etags) == (
        "failed",
        expected,
        OLD_ETAGS,
    )
    assert (summary.updated, summary.failed) == (2, 1)


@pytest.mark.usefixtures("refusing", "keep_logging_config")
async def test_the_fetch_command_reports_a_refused_value_as_the_package_failure(
    sessionmaker: async_sessionmaker[AsyncSession],
    upstream: HTTPServer,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of anyone's is read
    await make_three(sessionmaker)
    serve_stars(upstream, "beta", REFUSED_STARS, "new text")
    environment = {
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "ERROR",
        "FETCH_ENABLED": "false",
        "GITHUB_API_URL": base_url(upstream),
        "GITHUB_TOKEN": "",
        "GITLAB_API_URL": NOWHERE,
        "BITBUCKET_API_URL": NOWHERE,
        "CODEBERG_API_URL": NOWHERE,
        "PYPI_URL": NOWHERE,
    }

    # The command runs its own event loop, so it runs in a thread of its own.
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["fetch", "package-2"], env=environment
    )

    expected = f"not stored: the database refused a value: {REASON}"
    assert result.exit_code == 0
    assert result.stdout == "updated: 0, unchanged: 0, failed: 1\n"
    assert result.stderr == f"[1] failed    package-2  ({expected})\n"
    assert (await stored(sessionmaker, 2)).last_exception == expected
