"""The database goes away under load and comes back: the service rides it out.

A PostgreSQL server of the test's own (initdb into a temporary folder, its
own port on 127.0.0.1; never the machine's shared server) backs a real
`packages-api serve` process with its refresher running. Clients read and
write; the server is stopped in the middle and started again. While it is
down every answer is a quick 503 that says so; within seconds of its
return everything answers again without restarting the service, the
refresher goes on, and every write that was acknowledged is still there.
"""

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
OUTAGE_SECONDS = 3.0
SLOWEST_ANSWER = 2.0  # seconds; nothing may hang while the database is down


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}")):
            found = str(candidate)
    if found is None:
        pytest.fail(f"{name} (PostgreSQL's server programs) is not installed")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _as_postgres_user() -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class OwnPostgres:
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*_as_postgres_user(), _pg_bin("pg_ctl"), "-D", str(self.folder), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1"
            f" -k {self.folder} -c fsync=off"
        )
        self._ctl("-o", options, "-w", "-l", str(self.folder / "server.log"), "start")

    def stop(self) -> None:
        # "fast": clients are disconnected at once, as in a failover.
        self._ctl("-m", "fast", "-w", "stop")


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    folder = Path(tempfile.mkdtemp(prefix="packages-api-outage-"))
    data = folder / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(data, "postgres")
    subprocess.run(
        [
            *_as_postgres_user(),
            _pg_bin("initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = OwnPostgres(data, _free_port())
    server.start()
    try:
        yield server
    finally:
        subprocess.run(
            [
                *_as_postgres_user(),
                _pg_bin("pg_ctl"),
                "-D",
                str(data),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


def _environment(database_url: str, tmp_path: Path) -> dict[str, str]:
    nowhere = "http://127.0.0.1:9"  # refuses at once; nothing leaves the machine
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "FETCH_ENABLED": "true",
        "FETCH_POLL_SECONDS": "0.5",
        "FETCH_RETRIES": "1",
        "GITHUB_API_URL": nowhere,
        "GITLAB_API_URL": nowhere,
        "BITBUCKET_API_URL": nowhere,
        "CODEBERG_API_URL": nowhere,
        "PYPI_URL": nowhere,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "WARNING",
        # The load's writes all come from one token, faster than a client's share.
        "RATE_LIMIT_WRITES": "",
        "HOME": str(tmp_path),
    }


@dataclass
class Load:
    """What the clients saw."""

    acknowledged: dict[int, str] = field(default_factory=dict)  # package -> text
    statuses: list[tuple[float, int]] = field(default_factory=list)  # (time, status)
    slowest: float = 0.0
    unavailable_bodies: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)  # answers never given
    refused_writes: set[int] = field(default_factory=set)  # statuses other than 200/503


async def _drive(
    client: httpx.AsyncClient,
    token: str,
    package_ids: list[int],
    load: Load,
    until: float,
    worker: int,
) -> None:
    number = 0
    while time.monotonic() < until:
        number += 1
        package_id = package_ids[(worker + number) % len(package_ids)]
        started = time.monotonic()
        try:
            if number % 3 == 0:
                text = f"Title {worker}-{number}"
                response = await client.patch(
                    f"/api/v4/packages/{package_id}/",
                    json={"title": text},
                    headers={"Authorization": f"Bearer {token}"},
                )
                if response.status_code == 200:
                    load.acknowledged[package_id] = text
                elif response.status_code != 503:
                    load.refused_writes.add(response.status_code)
            else:
                response = await client.get(f"/api/v4/packages/{package_id}/")
        except httpx.HTTPError as exc:  # the service itself must not fail
            load.failures.append(f"{time.monotonic() - until:.1f}: {exc!r}")
            continue
        took = time.monotonic() - started
        load.slowest = max(load.slowest, took)
        load.statuses.append((started, response.status_code))
        if response.status_code == 503:
            load.unavailable_bodies.add(response.json()["detail"])
        await asyncio.sleep(0.02)


@dataclass
class Service:
    """`packages-api serve` in a process of its own, and a token for it."""

    base_url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> str:
        """Stop the process; what it logged."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.log.read_text()


@pytest.fixture
def service(own_postgres: OwnPostgres, tmp_path: Path) -> Iterator[Service]:
    env = _environment(own_postgres.url, tmp_path)
    created = subprocess.run(
        [str(BIN / "packages-api"), "token", "create", "outage-test"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    port = _free_port()
    # To a file, not a pipe: a pipe nobody reads fills up and stalls the server.
    log = tmp_path / "serve.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [str(BIN / "packages-api"), "serve", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    running = Service(
        f"http://127.0.0.1:{port}",
        created.stdout.strip().splitlines()[-1],
        process,
        log,
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.timeout(180)
async def test_the_service_rides_out_a_database_outage(
    own_postgres: OwnPostgres, service: Service
) -> None:
    token = service.token
    # Idle connections are dropped before the server's keep-alive (5 s)
    # would close them under a request in flight.
    limits = httpx.Limits(keepalive_expiry=2)
    async with httpx.AsyncClient(
        base_url=service.base_url, timeout=10, limits=limits
    ) as client:
        for _ in range(300):
            try:
                if (await client.get("/api/v4/")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        listing = (await client.get("/api/v4/packages/")).json()
        package_ids = [entry["id"] for entry in listing["results"]]
        assert len(package_ids) == 10  # the sample catalogue

        load = Load()
        until = time.monotonic() + 2 + OUTAGE_SECONDS + 8
        drivers = [
            asyncio.create_task(_drive(client, token, package_ids, load, until, n))
            for n in range(4)
        ]
        await asyncio.sleep(2)
        down_at = time.monotonic()
        await asyncio.to_thread(own_postgres.stop)
        stopped_at = time.monotonic()
        await asyncio.sleep(OUTAGE_SECONDS)
        restart_at = time.monotonic()
        await asyncio.to_thread(own_postgres.start)
        up_at = time.monotonic()
        await asyncio.gather(*drivers)
        # Every request got an answer, and every write a 200 or a 503.
        assert (load.failures, load.refused_writes) == ([], set())

        # Fully down: every answer a 503 that says why, none slow.
        while_down = [
            status for at, status in load.statuses if stopped_at + 0.5 < at < restart_at
        ]
        assert while_down and set(while_down) == {503}
        assert load.unavailable_bodies == {
            "The database is unavailable; try again shortly."
        }
        assert load.slowest < SLOWEST_ANSWER
        # Before the outage all was well (requests started just before the
        # stop may meet it); within a few seconds of the server's return all
        # is well again, with no restart.
        before = [status for at, status in load.statuses if at < down_at - 0.5]
        assert before and set(before) == {200}
        back = [at for at, status in load.statuses if at > up_at and status == 200]
        assert back and back[0] - up_at < 5
        settled = [status for at, status in load.statuses if at > up_at + 5]
        assert settled and set(settled) == {200}

        # Every acknowledged write is there.
        assert load.acknowledged
        for package_id, title in load.acknowledged.items():
            shown = (await client.get(f"/api/v4/packages/{package_id}/")).json()
            assert shown["title"] == title

        # The refresher went on: a refresh asked for now is carried out (the
        # upstreams refuse, so it ends failed, not stuck queued).
        asked = await client.post(
            f"/api/v4/packages/{package_ids[0]}/fetch/",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert asked.status_code == 202
        state: dict[str, object] = {}
        for _ in range(100):
            shown = await client.get(f"/api/v4/packages/{package_ids[0]}/fetch/")
            state = shown.json()
            if state["state"] in ("done", "failed"):
                break
            await asyncio.sleep(0.2)
        assert state["state"] == "failed"

    assert service.process.poll() is None  # still the same process
    logged = service.stop()
    assert "Traceback" not in logged, logged[-3000:]
