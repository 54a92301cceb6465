"""The README's settings table is the model's, and a bad setting stops the start."""

from pathlib import Path

import pytest

from app import config_doc
from app.config import Settings
from tests.cli.conftest import Invoke

README = Path(__file__).parents[2] / "README.md"


def test_the_readme_table_is_the_one_the_settings_model_gives() -> None:
    readme = README.read_text(encoding="utf-8")

    assert config_doc.table_in(readme) == config_doc.settings_table()


def test_every_setting_has_a_row_with_its_type_default_and_meaning() -> None:
    rows = config_doc.settings_table().splitlines()

    assert len(rows) == 2 + len(Settings.model_fields)
    assert all(field.description for field in Settings.model_fields.values())
    assert (
        "| `FETCH_LEASE` | duration | `00:10:00` | How long a worker holds the "
        "packages it claimed before others may take them. |"
    ) in rows
    assert (
        "| `GITHUB_TOKEN` | secret | unset | Sent to GitHub as a bearer token "
        "(5,000 requests an hour instead of 60, and GraphQL); never logged. |"
    ) in rows
    assert (
        "| `FETCH_HOST_CONCURRENCY` | integer, optional | unset | Requests in flight "
        "to one upstream host at a time; unset means FETCH_CONCURRENCY. |"
    ) in rows
    assert (
        "| `LOG_FORMAT` | `console` or `json` | `console` | console for readable "
        "lines in a terminal, json for one JSON object per line (production). |"
    ) in rows


def test_the_settings_command_prints_the_table(invoke: Invoke) -> None:
    result = invoke("settings")

    assert result.exit_code == 0
    assert result.stdout == config_doc.settings_table()


def test_the_settings_command_rewrites_a_stale_table(
    invoke: Invoke, workdir: Path
) -> None:
    readme = workdir / "README.md"
    readme.write_text(
        f"# Title\n\n{config_doc.START}\n| old | table |\n{config_doc.END}\n\nAfter.\n"
    )

    first = invoke("settings", "--write", str(readme))
    second = invoke("settings", "--write", str(readme))

    assert first.stdout == f"{readme}: table updated\n"
    assert second.stdout == f"{readme}: table already current\n"
    assert readme.read_text() == (
        f"# Title\n\n{config_doc.START}\n{config_doc.settings_table()}"
        f"{config_doc.END}\n\nAfter.\n"
    )


def test_the_settings_command_refuses_a_file_without_markers(
    invoke: Invoke, workdir: Path
) -> None:
    readme = workdir / "README.md"
    readme.write_text("# No table here\n")

    result = invoke("settings", "--write", str(readme))

    assert result.exit_code == 1
    assert result.stderr.startswith(f"cannot write the table into {readme}: ")
    assert readme.read_text() == "# No table here\n"


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"FETCH_CONCURRENCY": "0"},
            "  FETCH_CONCURRENCY: Input should be greater than or equal to 1",
        ),
        (
            {"LOG_FORMAT": "xml"},
            "  LOG_FORMAT: Input should be 'console' or 'json'",
        ),
        (
            {"WORKER_METRICS_PORT": "70000"},
            "  WORKER_METRICS_PORT: Input should be less than or equal to 65535",
        ),
        ({"FETCH_TIMEOUT": "inf"}, "  FETCH_TIMEOUT: Input should be a finite number"),
        ({"FETCH_TIMEOUT": "nan"}, "  FETCH_TIMEOUT: Input should be a finite number"),
        (
            {"FETCH_STATS_DELAY": "1e999"},
            "  FETCH_STATS_DELAY: Input should be a finite number",
        ),
        (
            {"FETCH_TIMEOUT": "1e300"},
            "  FETCH_TIMEOUT: Input should be less than or equal to 3600",
        ),
        (
            {"FETCH_INTERVAL": "inf"},
            "  FETCH_INTERVAL: Value error, must be a finite number of seconds",
        ),
        (
            {"FETCH_LEASE": "1e300"},
            "  FETCH_LEASE: Value error, must be at most 3650 days",
        ),
        (
            {"FETCH_BLOCKED_COOLDOWN": "P4000D"},
            "  FETCH_BLOCKED_COOLDOWN: Input should be less than or equal to 3650 days",
        ),
        (
            {"GITHUB_API_URL": "notaurl"},
            "  GITHUB_API_URL: Value error, is not an http(s) URL with a host, "
            "such as https://example.org",
        ),
        (
            {"PUBLIC_BASE_URL": "javascript:x"},
            "  PUBLIC_BASE_URL: Value error, is not an http(s) URL with a host, "
            "such as https://example.org",
        ),
        (
            {"CODEBERG_API_URL": "https://:443/api/v1"},
            "  CODEBERG_API_URL: Value error, is not an http(s) URL with a host, "
            "such as https://example.org",
        ),
        (
            {"PYPI_URL": "https://me:s3cret@pypi.example.org"},
            "  PYPI_URL: Value error, holds a user name or password",
        ),
        (
            {"GITLAB_API_URL": "https://gitlab.example.org/api/v4#top"},
            "  GITLAB_API_URL: Value error, has a query or a fragment",
        ),
        (
            {"FORWARDED_ALLOW_IPS": "127.0.0.1, 999.1.1.1"},
            "  FORWARDED_ALLOW_IPS: Value error, entry 2 ('999.1.1.1') is not an IP "
            "address or a network such as 10.0.0.0/8 (with no host bits set)",
        ),
        (
            {"FORWARDED_ALLOW_IPS": "10.0.0.1/8"},
            "  FORWARDED_ALLOW_IPS: Value error, entry 1 ('10.0.0.1/8') is not an IP "
            "address or a network such as 10.0.0.0/8 (with no host bits set)",
        ),
        (
            {"FORWARDED_ALLOW_IPS": "*, 10.0.0.1"},
            "  FORWARDED_ALLOW_IPS: Value error, * trusts every address, so it must "
            "be given alone",
        ),
        (
            {"GITLAB_HOSTS": "999.1.1.1"},
            "  GITLAB_HOSTS: Value error, entry 1 ('999.1.1.1') does not start with "
            "a host name",
        ),
        (
            {"GITEA_HOSTS": "git.example.org=notaurl"},
            "  GITEA_HOSTS: Value error, the API of 'git.example.org' is not an "
            "http(s) URL with a host, such as https://example.org",
        ),
    ],
)
def test_serve_with_a_bad_setting_stops_naming_it(
    invoke: Invoke, env: dict[str, str], line: str
) -> None:
    result = invoke("serve", "--port", "9", **env)

    assert result.exit_code == 2
    assert result.stderr == f"invalid settings:\n{line}\n"


def test_the_log_level_may_be_given_in_lower_case() -> None:
    settings = Settings(_env_file=None, log_level="debug")  # type: ignore[call-arg]

    assert settings.log_level == "DEBUG"


def test_proxy_addresses_and_base_urls_in_every_accepted_form() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        forwarded_allow_ips=" 127.0.0.1 , ::1, 10.0.0.0/8, fd00::/8,",
        public_base_url="https://packages.example.org/catalogue",
        github_api_url="http://[::1]:8080/api/v3",
        gitlab_hosts="git.example.org, 10.0.0.5=http://10.0.0.5:8080/api/v4",
        fetch_timeout="3600",
        fetch_interval="P3650D",
    )

    assert settings.forwarded_allow_ips == "127.0.0.1,::1,10.0.0.0/8,fd00::/8"
    assert settings.public_base_url == "https://packages.example.org/catalogue"
    assert settings.github_api_url == "http://[::1]:8080/api/v3"
    assert settings.gitlab_hosts == {
        "git.example.org": "https://git.example.org/api/v4",
        "10.0.0.5": "http://10.0.0.5:8080/api/v4",
    }
    assert (settings.fetch_timeout, settings.fetch_interval.days) == (3600.0, 3650)
