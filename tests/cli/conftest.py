"""Run `packages-api` in-process against a SQLite file of the test's own."""

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from app.cli import cli

Invoke = Callable[..., Result]


@pytest.fixture(autouse=True)
def _logging_kept(keep_logging_config: None) -> None:
    """The CLI configures structlog onto the runner's streams; undone after."""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # No `.env` of the project's, or of anyone's, is read from here.
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli_env(workdir: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'cli.db'}",
        "PUBLIC_BASE_URL": "https://packages.example.org",
        "TIME_ZONE": "UTC",
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "WARNING",
        "FETCH_ENABLED": "false",
        "GITHUB_API_URL": "http://127.0.0.1:9",
        "GITLAB_API_URL": "http://127.0.0.1:9",
        "BITBUCKET_API_URL": "http://127.0.0.1:9",
        "CODEBERG_API_URL": "http://127.0.0.1:9",
        "PYPI_URL": "http://127.0.0.1:9",
    }


@pytest.fixture
def invoke(cli_env: dict[str, str]) -> Invoke:
    runner = CliRunner()

    def run(*args: str, **env: str) -> Result:
        return runner.invoke(cli, list(args), env={**cli_env, **env})

    return run


@pytest.fixture
def query(workdir: Path) -> Callable[..., list[tuple[Any, ...]]]:
    """Rows from the CLI's database, read with the standard library's sqlite3."""

    def run(sql: str, database: str = "cli.db") -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(workdir / database)) as connection:
            return connection.execute(sql).fetchall()

    return run
