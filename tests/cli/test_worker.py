"""`packages-api worker`: the refresh without the API, stopped by SIGTERM."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.cli.conftest import Invoke


def test_sigterm_stops_the_worker_without_losing_a_package(
    invoke: Invoke, workdir: Path, cli_env: dict[str, str]
) -> None:
    document = {
        "categories": [{"id": 1, "title": "App", "slug": "apps"}],
        "packages": [
            {
                "id": i,
                "title": f"p{i}",
                "slug": f"p{i}",
                "category": 1,
                "pypi_url": f"p{i}",
            }
            for i in range(1, 5)
        ],
    }
    (workdir / "catalogue.json").write_text(json.dumps(document), encoding="utf-8")
    assert invoke("import", "catalogue.json").exit_code == 0

    arrived = threading.Semaphore(0)

    def slow(request: Request) -> Response:
        arrived.release()
        time.sleep(0.5)
        name = request.path.split("/")[2]
        return Response(
            json.dumps({"info": {"name": name, "version": "2.0"}, "releases": {}}),
            content_type="application/json",
        )

    with HTTPServer(host="127.0.0.1", port=0, threaded=True) as pypi:
        pypi.expect_request("/pypi/p1/json").respond_with_handler(slow)
        pypi.expect_request("/pypi/p2/json").respond_with_handler(slow)
        pypi.expect_request("/pypi/p3/json").respond_with_handler(slow)
        pypi.expect_request("/pypi/p4/json").respond_with_handler(slow)
        env = {
            **os.environ,
            **cli_env,
            "PYPI_URL": pypi.url_for("").rstrip("/"),
            "FETCH_CONCURRENCY": "2",
            "FETCH_SHUTDOWN_GRACE": "5",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # as a supervisor starts it
        )
        # Two fetches are in flight (FETCH_CONCURRENCY), two wait for a slot.
        assert arrived.acquire(timeout=20)
        assert arrived.acquire(timeout=5)
        # It gives way to API processes (WORKER_NICENESS, 10 by default),
        # and so does its session's scheduling group, where Linux has them.
        niceness = os.getpriority(os.PRIO_PROCESS, worker.pid)
        autogroup = Path(f"/proc/{worker.pid}/autogroup")
        group = autogroup.read_text().split()[-1] if autogroup.exists() else None
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=20)
        asked = len(pypi.log)

    assert worker.returncode == 0, stderr
    assert niceness == min(os.getpriority(os.PRIO_PROCESS, 0) + 10, 19)
    if Path("/proc/self/autogroup").exists():
        assert group == str(niceness)
    events = [json.loads(line)["event"] for line in stderr.splitlines()]
    assert events[0] == "fetch.scheduler_started"
    assert events[-1] == "fetch.scheduler_stopped"
    with sqlite3.connect(workdir / "cli.db") as db:
        leases = db.execute(
            "SELECT package_id, state, lease_owner FROM package_refreshes ORDER BY 1"
        ).fetchall()
        versions = dict(db.execute("SELECT slug, pypi_version FROM packages"))
    # The two fetches in flight finished within the grace; the rest were
    # given back untouched, still due, held by nobody.
    assert asked == 2
    assert sorted(str(state) for _, state, _ in leases) == [
        "None",
        "None",
        "done",
        "done",
    ]
    assert [owner for _, _, owner in leases] == [None] * 4
    assert sorted(versions.values()) == ["", "", "2.0", "2.0"]
