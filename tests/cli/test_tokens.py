"""`packages-api token create|list|revoke`: scopes, a listing without secrets,
and revocation that the API sees at once."""

import contextlib
import hashlib
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import Invoke
from tests.live import live_server

Query = Callable[..., list[tuple[Any, ...]]]


def secret_of(result: Any) -> str:
    assert result.exit_code == 0, result.stderr
    return str(result.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    ("options", "stored", "said"),
    [
        ((), '["write"]', "scope write"),
        (("--scope", "write"), '["write"]', "scope write"),
        (("--scope", "admin"), '["admin"]', "scope admin"),
        (("--scope", "read"), '["read"]', "scope read"),
        (
            ("--scope", "admin", "--scope", "write"),
            '["write", "admin"]',
            "scopes write, admin",
        ),
        (("--scope", "admin,write"), '["write", "admin"]', "scopes write, admin"),
        (("--scope", " write , write"), '["write"]', "scope write"),
    ],
)
def test_a_token_gets_the_scopes_asked_for(
    invoke: Invoke, query: Query, options: tuple[str, ...], stored: str, said: str
) -> None:
    result = invoke("token", "create", "ci", *options)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        f"created token 'ci' with {said}; keep it now, it is not shown again:"
    )
    assert query("SELECT scopes FROM api_tokens") == [(stored,)]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ("--scope", "superuser"),
            "unknown scope 'superuser': a scope is one of read, write, admin\n",
        ),
        (
            ("--scope", "write,Admin"),
            "unknown scope 'Admin': a scope is one of read, write, admin\n",
        ),
        (("--scope", ","), "give at least one scope: read, write, admin\n"),
    ],
)
def test_an_unknown_scope_is_refused_and_nothing_is_made(
    invoke: Invoke, workdir: Path, options: tuple[str, ...], message: str
) -> None:
    result = invoke("token", "create", "ci", *options)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == message
    assert not (workdir / "cli.db").exists()  # refused before the database


def test_the_list_names_scopes_and_times_but_never_a_secret(
    invoke: Invoke, workdir: Path
) -> None:
    ci = secret_of(invoke("token", "create", "ci"))
    ops = secret_of(invoke("token", "create", "ops team", "--scope", "admin"))
    with contextlib.closing(sqlite3.connect(workdir / "cli.db")) as db, db:
        db.execute(
            "UPDATE api_tokens SET last_used_at = '2026-03-04 05:06:07.000000'"
            " WHERE name = 'ops team'"
        )

    result = invoke("token", "list")

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["NAME", "SCOPES", "CREATED", "LAST USED"]
    rows = [re.split(r"\s{2,}", line) for line in lines[1:]]
    assert [(row[0], row[1], row[3]) for row in rows] == [
        ("ci", "write", "never"),
        ("ops team", "admin", "2026-03-04 05:06:07Z"),
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", row[2]) for row in rows)
    for secret in (ci, ops):
        assert secret not in result.output
        assert hashlib.sha256(secret.encode()).hexdigest() not in result.output


def test_an_empty_list_says_so(invoke: Invoke) -> None:
    result = invoke("token", "list")

    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "no tokens\n")


def test_revoking_an_unknown_name_fails(invoke: Invoke, query: Query) -> None:
    secret_of(invoke("token", "create", "ci"))

    result = invoke("token", "revoke", "cd")

    assert result.exit_code == 1
    assert result.stderr == "no token is named 'cd'\n"
    assert query("SELECT name FROM api_tokens") == [("ci",)]


def test_a_revoked_token_is_refused_at_once_and_the_others_still_work(
    invoke: Invoke, query: Query, cli_env: dict[str, str], workdir: Path
) -> None:
    gone = secret_of(invoke("token", "create", "leaked"))
    kept = secret_of(invoke("token", "create", "kept"))
    body = {"title": "Tool", "slug": "tool", "category": 1}

    # A running server: nothing it keeps in memory may outlive a revocation.
    with live_server(cli_env["DATABASE_URL"], workdir) as server:

        def post(secret: str) -> int:
            response = httpx.post(
                f"{server.url}/api/v4/packages/",
                json=body,
                headers={"Authorization": f"Bearer {secret}"},
                timeout=10,
            )
            return response.status_code

        before = post(gone)  # 422: there is no category 1, but the token is good
        result = invoke("token", "revoke", "leaked")
        after = post(gone)
        other = post(kept)

    assert (result.exit_code, result.stdout) == (0, "revoked token 'leaked'\n")
    assert (before, after, other) == (422, 401, 422)
    assert query("SELECT name FROM api_tokens") == [("kept",)]
