"""The real `packages-api serve` in a child process, on a loopback port.

For what only a real server shows: uvicorn's workers, the logs a process
writes, a browser talking to it. It serves the test run's own database.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import NOWHERE


@dataclass
class LiveServer:
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def live_server(
    database_url: str, folder: Path, *args: str, **env: str
) -> Iterator[LiveServer]:
    port = free_port()
    log_path = folder / "server.log"
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "FETCH_ENABLED": "false",
        "LOAD_SAMPLE_DATA": "false",
        "GITHUB_API_URL": NOWHERE,
        "GITLAB_API_URL": NOWHERE,
        "BITBUCKET_API_URL": NOWHERE,
        "CODEBERG_API_URL": NOWHERE,
        "PYPI_URL": NOWHERE,
        **env,
    }
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), *args],
            cwd=folder,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(url=f"http://127.0.0.1:{port}", log_path=log_path)
    try:
        _wait_until_up(server, process)
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(server: LiveServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped:\n{server.log()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the server did not start:\n{server.log()}")
