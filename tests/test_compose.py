"""docker-compose.yml: migrate once, then two API replicas and a worker, all checked."""

from pathlib import Path
from typing import Any

import yaml

from app.config import Settings

COMPOSE = Path(__file__).parents[1] / "docker-compose.yml"


def services() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document["services"]


def test_the_stack_is_postgres_a_migration_two_replicas_and_a_worker() -> None:
    stack = services()

    assert sorted(stack) == ["api-1", "api-2", "db", "migrate", "worker"]
    assert stack["migrate"]["command"] == ["packages-api", "migrate"]
    assert stack["migrate"]["restart"] == "no"
    assert stack["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("api-1", "api-2", "worker"):
        assert stack[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }
    assert stack["worker"]["command"] == ["packages-api", "worker"]
    # The worker gives way to the replicas: 256 against the default 1024.
    assert stack["worker"]["cpu_shares"] == 256
    assert "cpu_shares" not in stack["api-1"]
    assert [stack[name]["ports"] for name in ("api-1", "api-2")] == [
        ["8000:8000"],
        ["8001:8000"],
    ]


def test_replicas_only_serve_and_the_worker_refreshes() -> None:
    stack = services()

    for name in ("api-1", "api-2"):
        assert stack[name]["command"][:2] == ["packages-api", "serve"]
        assert stack[name]["environment"]["FETCH_ENABLED"] == "false"
        # Published as they are: no X-Forwarded-* is trusted unless told.
        assert stack[name]["environment"]["FORWARDED_ALLOW_IPS"] == (
            "${FORWARDED_ALLOW_IPS:-127.0.0.1}"
        )
    assert "FETCH_ENABLED" not in stack["worker"]["environment"]
    database = {
        stack[name]["environment"]["DATABASE_URL"] for name in stack if name != "db"
    }
    assert database == {"postgresql+asyncpg://packages:packages@db:5432/packages"}
    # Every forge's token settings pass from .env (or the shell) to the
    # services that fetch or could.
    secrets = [name for name in Settings.model_fields if "token" in name]
    for name in ("api-1", "api-2", "worker"):
        environment = stack[name]["environment"]
        for setting in secrets:
            upper = setting.upper()
            assert environment[upper] == f"${{{upper}:-}}", (name, upper)


def test_every_long_running_service_has_a_health_check() -> None:
    stack = services()

    assert stack["db"]["healthcheck"]["test"] == [
        "CMD-SHELL",
        "pg_isready -U packages -d packages",
    ]
    for name in ("api-1", "api-2"):
        assert "http://127.0.0.1:8000/readyz" in stack[name]["healthcheck"]["test"][-1]
    assert stack["worker"]["environment"]["WORKER_METRICS_PORT"] == "9100"
    assert "http://127.0.0.1:9100/metrics" in stack["worker"]["healthcheck"]["test"][-1]
