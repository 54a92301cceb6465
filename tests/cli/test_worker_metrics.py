"""`packages-api worker` serves its fetch metrics on WORKER_METRICS_PORT."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer

from tests.cli.conftest import Invoke
from tests.live import free_port


def pypi_ok(text: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "packages_api_fetches_total" and sample.labels == {
                "upstream": "pypi",
                "outcome": "ok",
            }:
                return sample.value
    return None


def test_the_worker_counts_its_fetches_on_its_metrics_port(
    invoke: Invoke, workdir: Path, cli_env: dict[str, str], httpserver: HTTPServer
) -> None:
    document = {
        "categories": [{"id": 1, "title": "App", "slug": "apps"}],
        "packages": [
            {"id": 1, "title": "p1", "slug": "p1", "category": 1, "pypi_url": "p1"}
        ],
    }
    (workdir / "catalogue.json").write_text(json.dumps(document), encoding="utf-8")
    assert invoke("import", "catalogue.json").exit_code == 0
    httpserver.expect_request("/pypi/p1/json").respond_with_json(
        {"info": {"name": "p1", "version": "2.0"}, "releases": {}}
    )
    port = free_port()
    env = {
        **os.environ,
        **cli_env,
        "PYPI_URL": httpserver.url_for("").rstrip("/"),
        "WORKER_METRICS_PORT": str(port),
        "FETCH_POLL_SECONDS": "60",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        seen = None
        deadline = time.monotonic() + 30
        while seen is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                seen = pypi_ok(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)

    assert seen == 1.0
    assert worker.returncode == 0
