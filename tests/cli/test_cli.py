"""The `packages-api` command: migrate, tokens, import and export, fetch's arguments."""

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from app.cli import SAMPLE_CATALOG
from app.db.migrate import alembic_config
from tests.cli.conftest import Invoke

Query = Callable[..., list[tuple[Any, ...]]]

CATALOGUE_TABLES = (
    "categories",
    "grids",
    "packages",
    "grid_packages",
    "grid_features",
    "grid_cells",
)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def table_counts(query: Query, database: str = "cli.db") -> dict[str, int]:
    return {
        table: query(f"SELECT count(*) FROM {table}", database)[0][0]
        for table in CATALOGUE_TABLES
    }


def test_migrate_brings_a_new_database_to_the_newest_migration(
    invoke: Invoke, query: Query
) -> None:
    result = invoke("migrate")
    again = invoke("migrate")

    assert (result.exit_code, result.stdout) == (
        0,
        "database is at the newest migration\n",
    )
    assert (again.exit_code, again.stdout) == (0, result.stdout)
    assert query("SELECT version_num FROM alembic_version") == [(head_revision(),)]


def test_token_create_prints_the_token_once_and_stores_its_digest(
    invoke: Invoke, query: Query, workdir: Path
) -> None:
    result = invoke("token", "create", "ci")

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[:-1] == [
        "created token 'ci' with scope write; keep it now, it is not shown again:"
    ]
    secret = lines[-1]
    assert secret.startswith("pkapi_")
    assert len(secret) == len("pkapi_") + 43
    assert query("SELECT name, token_hash, scopes, last_used_at FROM api_tokens") == [
        ("ci", hashlib.sha256(secret.encode()).hexdigest(), '["write"]', None)
    ]
    stored = b"".join(path.read_bytes() for path in workdir.glob("cli.db*"))
    assert secret.encode() not in stored


def test_each_token_is_new(invoke: Invoke, query: Query) -> None:
    first = invoke("token", "create", "ci").stdout.splitlines()[-1]
    second = invoke("token", "create", "deploy").stdout.splitlines()[-1]

    assert first != second
    assert query("SELECT name FROM api_tokens ORDER BY id") == [("ci",), ("deploy",)]


def test_a_token_name_is_used_once(invoke: Invoke, query: Query) -> None:
    invoke("token", "create", "ci")

    result = invoke("token", "create", "ci")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "a token named 'ci' already exists\n"
    assert query("SELECT count(*) FROM api_tokens") == [(1,)]


def test_the_installed_command_prints_the_token_alone_on_its_last_line(
    cli_env: dict[str, str], query: Query, workdir: Path
) -> None:
    command = Path(sys.executable).with_name("packages-api")
    result = subprocess.run(
        [str(command), "token", "create", "release"],
        env={**os.environ, **cli_env},
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    secret = result.stdout.splitlines()[-1]
    assert result.stdout.endswith(f"\n{secret}\n")
    assert query("SELECT token_hash FROM api_tokens") == [
        (hashlib.sha256(secret.encode()).hexdigest(),)
    ]


def test_import_then_export_round_trips_through_the_command(
    invoke: Invoke, query: Query, workdir: Path
) -> None:
    imported = invoke("import", str(SAMPLE_CATALOG))
    exported = invoke("export", "first.json")

    assert (imported.exit_code, imported.stdout) == (
        0,
        "imported 3 categories, 4 grids, 10 packages, 4 features, 7 cells\n",
    )
    assert (exported.exit_code, exported.stderr) == (
        0,
        "wrote 10 packages to first.json\n",
    )
    assert table_counts(query) == {
        "categories": 3,
        "grids": 4,
        "packages": 10,
        "grid_packages": 5,
        "grid_features": 4,
        "grid_cells": 7,
    }
    sample = json.loads(SAMPLE_CATALOG.read_text(encoding="utf-8"))
    first = json.loads((workdir / "first.json").read_text(encoding="utf-8"))
    assert first["categories"] == sample["categories"]
    assert first["grids"] == sample["grids"]
    assert first["features"] == sample["features"]
    # The sample shows 2403's times in New York's zone; the export is in UTC.
    assert first["packages"][:-1] == sample["packages"][:-1]
    assert first["packages"][-1]["created"] == "2014-06-03T04:28:54.612484Z"

    other = f"sqlite+aiosqlite:///{workdir / 'other.db'}"
    assert invoke("import", "first.json", DATABASE_URL=other).exit_code == 0
    assert invoke("export", "second.json", DATABASE_URL=other).exit_code == 0
    assert (workdir / "second.json").read_bytes() == (
        workdir / "first.json"
    ).read_bytes()


def test_export_in_the_configured_zone_to_standard_output(invoke: Invoke) -> None:
    invoke("import", str(SAMPLE_CATALOG))

    result = invoke("export", "-", TIME_ZONE="America/New_York")

    assert result.exit_code == 0
    document = json.loads(result.stdout)
    sample = json.loads(SAMPLE_CATALOG.read_text(encoding="utf-8"))
    assert document["packages"][-1] == sample["packages"][-1]
    assert result.stdout.endswith("}\n")


def test_importing_the_same_file_twice_changes_nothing(
    invoke: Invoke, workdir: Path
) -> None:
    invoke("import", str(SAMPLE_CATALOG))
    invoke("export", "once.json")

    again = invoke("import", str(SAMPLE_CATALOG))
    invoke("export", "twice.json")

    assert (
        again.stdout
        == "imported 3 categories, 4 grids, 10 packages, 4 features, 7 cells\n"
    )
    assert (workdir / "twice.json").read_bytes() == (workdir / "once.json").read_bytes()


def test_an_import_names_the_repo_urls_an_edit_would_refuse(
    invoke: Invoke, workdir: Path, query: Query
) -> None:
    document = {
        "categories": [{"id": 1, "title": "App", "slug": "apps"}],
        "packages": [
            {
                "id": 1,
                "title": "Org",
                "slug": "org-only",
                "category": 1,
                "repo_url": "https://github.com/example-org",
            }
        ],
    }
    (workdir / "org.json").write_text(json.dumps(document), encoding="utf-8")

    result = invoke("import", "org.json")

    assert result.exit_code == 0
    logged, note = result.stderr.splitlines()
    assert "import.repo_url_refused" in logged
    assert note == (
        "note: org-only's repo_url names no repository an edit would accept; "
        "kept as it is"
    )
    assert query("SELECT repo_url FROM packages") == [
        ("https://github.com/example-org",)
    ]


def test_importing_an_empty_document_imports_nothing(
    invoke: Invoke, workdir: Path, query: Query
) -> None:
    (workdir / "empty.json").write_text("{}", encoding="utf-8")

    result = invoke("import", "empty.json")

    assert (result.exit_code, result.stdout) == (
        0,
        "imported 0 categories, 0 grids, 0 packages, 0 features, 0 cells\n",
    )
    assert table_counts(query) == dict.fromkeys(CATALOGUE_TABLES, 0)


def test_a_document_with_a_missing_category_is_refused_and_nothing_written(
    invoke: Invoke, workdir: Path, query: Query
) -> None:
    document = json.loads(SAMPLE_CATALOG.read_text(encoding="utf-8"))
    document["packages"][0]["category"] = (
        "https://packages.example.org/api/v4/categories/42/"
    )
    (workdir / "broken.json").write_text(json.dumps(document), encoding="utf-8")

    result = invoke("import", "broken.json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "broken.json: package 'django' names category 42, which is not in the catalogue\n"
    )
    assert table_counts(query) == dict.fromkeys(CATALOGUE_TABLES, 0)


def test_a_document_whose_slug_another_id_holds_is_refused(
    invoke: Invoke, workdir: Path, query: Query
) -> None:
    invoke("import", str(SAMPLE_CATALOG))
    document = {"categories": [{"id": 50, "title": "Apps again", "slug": "apps"}]}
    (workdir / "clash.json").write_text(json.dumps(document), encoding="utf-8")

    result = invoke("import", "clash.json")

    assert result.exit_code == 1
    assert result.stderr == (
        "clash.json: categories: the document gives a record a slug or repository "
        "that another id already holds\n"
    )
    assert query("SELECT id FROM categories ORDER BY id") == [(1,), (2,), (3,)]


@pytest.mark.parametrize(
    ("content", "start"),
    [
        (None, "cannot read missing.json: No such file or directory\n"),
        ('{"packages": [{"id": 1}]}', "missing.json is not a catalogue document:\n"),
    ],
)
def test_an_unreadable_document_is_refused(
    invoke: Invoke, workdir: Path, content: str | None, start: str
) -> None:
    if content is not None:
        (workdir / "missing.json").write_text(content, encoding="utf-8")

    result = invoke("import", "missing.json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(start)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            b"{not json",
            " not JSON (Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1))",
        ),
        ('{"categories": []}'.encode("utf-16"), " not UTF-8 text"),
        (b"[" * 100_000 + b"]" * 100_000, " not JSON (nested too deep)"),
        (b'{"categories": [], "categories": []}', "\ncategories\n  key appears twice"),
        (
            b'{"packages": [{"id": 1, "title": "p", "slug": "p", "category": 1, '
            b'"repo_watchers": 1, "repo_watchers": 2}]}',
            "\npackages.0.repo_watchers\n  key appears twice",
        ),
        (
            b'{"categories": [{"id": '
            + b"1" * 5000
            + b', "title": "A", "slug": "a"}]}',
            "\ncategories.0.id\n  is a number of 5000 digits; a number may have "
            "at most 4300",
        ),
    ],
)
def test_a_document_json_reads_loosely_is_refused_naming_the_fault(
    invoke: Invoke, workdir: Path, query: Query, content: bytes, problem: str
) -> None:
    (workdir / "bad.json").write_bytes(content)

    result = invoke("import", "bad.json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"bad.json is not a catalogue document:{problem}\n"
    assert invoke("migrate").exit_code == 0
    assert query("SELECT count(*) FROM categories") == [(0,)]


@pytest.mark.parametrize("args", [[], ["--all", "django"]])
def test_fetch_needs_either_all_or_slugs(invoke: Invoke, args: list[str]) -> None:
    result = invoke("fetch", *args)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "give either --all or one or more slugs\n"


def test_invalid_settings_are_reported(invoke: Invoke) -> None:
    result = invoke("migrate", TIME_ZONE="Mars/Olympus_Mons")

    assert result.exit_code == 2
    assert result.stderr.startswith("invalid settings:\n")
    assert "unknown time zone 'Mars/Olympus_Mons'" in result.stderr


def test_no_command_shows_the_help(invoke: Invoke) -> None:
    result = invoke()

    assert result.exit_code == 2
    for command in ("serve", "migrate", "import", "export", "fetch", "token"):
        assert command in result.stdout


def test_fetch_shows_progress_and_a_summary(
    invoke: Invoke, workdir: Path, query: Callable[..., list[tuple[Any, ...]]]
) -> None:
    document = {
        "categories": [{"id": 1, "title": "App", "slug": "apps"}],
        "packages": [
            {"id": 1, "title": "one", "slug": "one", "category": 1, "pypi_url": "one"},
            {"id": 2, "title": "two", "slug": "two", "category": 1, "pypi_url": "two"},
        ],
    }
    (workdir / "catalogue.json").write_text(json.dumps(document), encoding="utf-8")
    assert invoke("import", "catalogue.json").exit_code == 0

    with HTTPServer(host="127.0.0.1", port=0) as pypi:
        pypi.expect_request("/pypi/one/json").respond_with_json(
            {"info": {"name": "one", "version": "1.2.0"}, "releases": {}}
        )
        pypi.expect_request("/pypi/two/json").respond_with_json(
            {"message": "Not Found"}, status=404
        )
        result = invoke(
            "fetch",
            "one",
            "two",
            "nope",
            PYPI_URL=pypi.url_for("").rstrip("/"),
            LOG_LEVEL="ERROR",
        )

    assert result.exit_code == 0
    assert result.stdout == "updated: 1, unchanged: 0, failed: 1\n"
    *progress, missing = result.stderr.splitlines()
    # Packages are fetched concurrently, so they may finish in either order.
    assert [line[:4] for line in progress] == ["[1] ", "[2] "]
    assert sorted(line[4:] for line in progress) == [
        "failed    two  (404 Not Found)",
        "updated   one  (pypi_version)",
    ]
    assert missing == "no package has the slug 'nope'"
    assert query("SELECT slug, pypi_version FROM packages ORDER BY id") == [
        ("one", "1.2.0"),
        ("two", ""),
    ]


def test_fetch_of_only_unknown_slugs_fails(invoke: Invoke) -> None:
    assert invoke("migrate").exit_code == 0

    result = invoke("fetch", "nope")

    assert result.exit_code == 1
    assert result.stdout == "updated: 0, unchanged: 0, failed: 0\n"
    assert result.stderr == "no package has the slug 'nope'\n"


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"DATABASE_URL": "mysql://db/packages"},
            "  DATABASE_URL: Value error, use sqlite+aiosqlite:///PATH or "
            "postgresql+asyncpg://USER@HOST/DB",
        ),
        (
            {"FETCH_INTERVAL": "banana"},
            "  FETCH_INTERVAL: Input should be a valid timedelta, invalid character in hour",
        ),
    ],
)
def test_a_bad_setting_is_named_by_its_variable(
    invoke: Invoke, env: dict[str, str], line: str
) -> None:
    result = invoke("migrate", **env)

    assert result.exit_code == 2
    assert result.stderr == f"invalid settings:\n{line}\n"


def test_a_database_file_that_cannot_be_made_is_one_clear_line(
    invoke: Invoke, workdir: Path
) -> None:
    missing = workdir / "no-such-folder" / "x.db"

    result = invoke("migrate", DATABASE_URL=f"sqlite+aiosqlite:///{missing}")

    assert result.exit_code == 1
    assert result.stderr == f"the database's folder {missing.parent} does not exist\n"


@pytest.mark.parametrize("name", ["", " ", "a\x01b", "n" * 101])
def test_a_token_needs_a_printable_name(invoke: Invoke, name: str) -> None:
    result = invoke("token", "create", name)

    assert result.exit_code == 2
    assert result.stderr == "a token name is 1 to 100 printable characters\n"


def test_export_to_a_place_that_cannot_be_written_says_so(
    invoke: Invoke, workdir: Path
) -> None:
    assert invoke("migrate").exit_code == 0

    result = invoke("export", str(workdir))

    assert result.exit_code == 1
    assert result.stderr == f"cannot write {workdir}: Is a directory\n"


def test_a_grid_may_list_a_package_it_already_holds(
    invoke: Invoke, workdir: Path, query: Query
) -> None:
    catalogue = {
        "categories": [{"id": 1, "title": "App", "slug": "apps"}],
        "grids": [{"id": 3, "title": "G", "slug": "g"}],
        "packages": [{"id": 1, "title": "p", "slug": "p", "category": 1, "grids": [3]}],
    }
    grid_again = {"grids": [{"id": 3, "title": "G", "slug": "g", "packages": [1]}]}
    (workdir / "a.json").write_text(json.dumps(catalogue), encoding="utf-8")
    (workdir / "b.json").write_text(json.dumps(grid_again), encoding="utf-8")

    first, second = invoke("import", "a.json"), invoke("import", "b.json")

    assert (first.exit_code, second.exit_code) == (0, 0)
    assert query("SELECT grid_id, package_id FROM grid_packages") == [(3, 1)]


@pytest.mark.parametrize(
    ("package", "problem"),
    [
        (
            {"repo_url": "https://x.org/" + "a" * 500},
            "String should have at most 500 characters",
        ),
        ({"pypi_version": "1" * 101}, "String should have at most 100 characters"),
        ({"repo_watchers": 2**40}, "Input should be less than or equal to 2147483647"),
        ({"title": "a\x00b"}, "must not contain a NUL character"),
        (
            {"created": "0001-01-01T00:00:00+14:00"},
            "is out of the range of dates that can be stored",
        ),
    ],
)
def test_a_record_that_would_not_fit_the_database_is_refused(
    invoke: Invoke,
    workdir: Path,
    query: Query,
    package: dict[str, object],
    problem: str,
) -> None:
    document = {
        "categories": [{"id": 1, "title": "App", "slug": "apps"}],
        "packages": [{"id": 1, "title": "p", "slug": "p", "category": 1, **package}],
    }
    (workdir / "bad.json").write_text(json.dumps(document), encoding="utf-8")

    result = invoke("import", "bad.json")

    assert result.exit_code == 1
    assert result.stderr.startswith("bad.json is not a catalogue document:\n")
    assert problem in result.stderr
    assert invoke("migrate").exit_code == 0
    assert query("SELECT count(*) FROM packages") == [(0,)]


@pytest.mark.parametrize("port", ["99999", "65536", "-1"])
def test_serve_refuses_a_port_out_of_range(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, port: str
) -> None:
    served: list[dict[str, Any]] = []
    monkeypatch.setattr("app.cli.uvicorn.run", lambda *a, **kw: served.append(kw))

    result = invoke("serve", "--port", port)

    assert result.exit_code == 2
    assert (
        f"Invalid value for '--port': {port} is not in the range 0<=x<=65535."
        in result.stderr
    )
    assert served == []


@pytest.mark.parametrize("port", [0, 65535])
def test_serve_takes_a_port_at_either_end_of_the_range(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch, port: int
) -> None:
    served: list[dict[str, Any]] = []
    monkeypatch.setattr("app.cli.uvicorn.run", lambda *a, **kw: served.append(kw))

    result = invoke("serve", "--port", str(port), LOAD_SAMPLE_DATA="false")

    assert result.exit_code == 0
    assert [(kw["host"], kw["port"]) for kw in served] == [("127.0.0.1", port)]
