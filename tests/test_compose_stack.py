"""The Docker Compose stack's services, run as the processes they start.

No container engine runs where the tests do, so the images are not built
here; what each service would run is. Every service but `db` is started from
docker-compose.yml itself: its command, its environment and, for the
long-running ones, its health check, with only what a container would get
from its network changed (the database URL, loopback ports, and upstreams
that answer nothing). The test run's database stands in for `db`, made anew
and empty, so `migrate` does its real work: it runs first and alone, then
both replicas and the worker start on the migrated database and must pass
their own health checks, answer alike, and stop cleanly on SIGTERM.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import NOWHERE
from tests.live import free_port

COMPOSE = Path(__file__).parents[1] / "docker-compose.yml"
BIN = Path(sys.executable).parent
UPSTREAMS = (
    "GITHUB_API_URL",
    "GITLAB_API_URL",
    "BITBUCKET_API_URL",
    "CODEBERG_API_URL",
    "PYPI_URL",
)


def interpolate(value: str) -> str:
    """Compose's `${NAME:-default}`, with nothing set in this environment."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def command_line(words: list[str], ports: dict[str, str]) -> list[str]:
    """A service's command (or CMD health check) as a process here runs it."""
    line = []
    for word in words:
        for container, here in ports.items():
            word = word.replace(f"127.0.0.1:{container}", f"127.0.0.1:{here}")
        line.append(word)
    if line[0] == "packages-api":
        line[0] = str(BIN / "packages-api")
    elif line[0] == "python":
        line[0] = sys.executable
    if "--port" in line:
        at = line.index("--port") + 1
        line[at] = ports[line[at]]
    if "--host" in line:
        line[line.index("--host") + 1] = "127.0.0.1"
    return line


def environment(service: dict[str, Any], database_url: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name.startswith(("PATH", "HOME", "LANG", "LC_", "TMPDIR"))
    }
    env.update(
        {
            name: interpolate(str(value))
            for name, value in service["environment"].items()
        }
    )
    env["DATABASE_URL"] = database_url
    env.update(dict.fromkeys(UPSTREAMS, NOWHERE))
    if "WORKER_METRICS_HOST" in env:
        env["WORKER_METRICS_HOST"] = "127.0.0.1"
    return env


@pytest.fixture
async def empty_database(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database of the stack's own, made anew: nothing migrated yet."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'stack.db'}"
        return
    url = make_url(database_url)
    name = f"{url.database}_stack"
    admin = create_async_engine(
        url.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    drop = text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    async with admin.connect() as connection:
        await connection.execute(drop)
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(drop)
        await admin.dispose()


@contextmanager
def started(
    name: str, line: list[str], env: dict[str, str], folder: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with (folder / f"{name}.log").open("wb") as log:
        process = subprocess.Popen(
            line, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def healthy(check: list[str], env: dict[str, str], timeout: float) -> int:
    """Run a CMD health check until it passes; its last exit status."""
    deadline = time.monotonic() + timeout
    while True:
        status = subprocess.run(check, env=env, capture_output=True, timeout=10)
        if status.returncode == 0 or time.monotonic() > deadline:
            return status.returncode
        time.sleep(0.5)


@pytest.mark.timeout(180)
def test_the_compose_services_migrate_once_then_serve_and_refresh(
    empty_database: str, tmp_path: Path
) -> None:
    stack = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    api_ports = {name: str(free_port()) for name in ("api-1", "api-2")}
    metrics_port = str(free_port())
    check_env = environment(stack["migrate"], empty_database)

    migrated = subprocess.run(
        command_line(stack["migrate"]["command"], {}),
        env=check_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.splitlines() == ["database is at the newest migration"]

    apis = {
        name: started(
            name,
            command_line(stack[name]["command"], {"8000": api_ports[name]}),
            environment(stack[name], empty_database),
            tmp_path,
        )
        for name in ("api-1", "api-2")
    }
    worker_env = environment(stack["worker"], empty_database)
    worker_env["WORKER_METRICS_PORT"] = metrics_port
    refresher = started(
        "worker", command_line(stack["worker"]["command"], {}), worker_env, tmp_path
    )
    with apis["api-1"] as api_1, apis["api-2"] as api_2, refresher as worker:
        checks = {
            name: healthy(
                command_line(
                    stack[name]["healthcheck"]["test"][1:], {"8000": api_ports[name]}
                ),
                check_env,
                timeout=60,
            )
            for name in ("api-1", "api-2")
        }
        checks["worker"] = healthy(
            command_line(
                stack["worker"]["healthcheck"]["test"][1:], {"9100": metrics_port}
            ),
            check_env,
            timeout=60,
        )
        answers = [
            httpx.get(f"http://127.0.0.1:{port}/api/v4/packages/?limit=100", timeout=10)
            for port in api_ports.values()
        ]
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)

        for process in (api_1, api_2, worker):
            process.send_signal(signal.SIGTERM)
        stopped = [process.wait(timeout=30) for process in (api_1, api_2, worker)]

    assert checks == {"api-1": 0, "api-2": 0, "worker": 0}
    assert [answer.status_code for answer in answers] == [200, 200]
    # The replicas loaded the sample catalogue once between them, and
    # answer alike.
    first, second = (answer.json() for answer in answers)
    assert first["count"] == 10
    assert [p["slug"] for p in first["results"]] == [
        p["slug"] for p in second["results"]
    ]
    assert "packages_api_fetches_total" in metrics.text
    # uvicorn shuts down gracefully, then raises the signal again so that
    # the exit status says what stopped it; the worker exits 0.
    assert stopped == [-signal.SIGTERM, -signal.SIGTERM, 0]
    for name in ("api-1", "api-2"):
        events = [
            json.loads(line)["event"]
            for line in (tmp_path / f"{name}.log").read_text().splitlines()
            if line.startswith("{")
        ]
        assert "request.finished" in events
        assert events[-2] == "Application shutdown complete."
    worker_log = (tmp_path / "worker.log").read_text().splitlines()
    assert json.loads(worker_log[-1])["event"] == "fetch.scheduler_stopped"
