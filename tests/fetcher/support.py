"""Helpers of the fetcher tests: replaying upstream answers, reading results.

Captured answers are served by a real HTTP server on loopback.

Captures live in tests/data/upstream (see PROVENANCE.md there). Absolute
upstream URLs in their Link and Location headers are rewritten to the
stand-in server, so nothing ever points past this machine; URLs in bodies
(Bitbucket's `next`) are rewritten by the tests that follow them.
"""

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from werkzeug import Request, Response

from app.config import Settings
from app.models import FetchState, Package

DATA = Path(__file__).resolve().parents[1] / "data" / "upstream"
_REAL_BASES = (
    "https://api.github.com",
    "https://pypi.org",
    "https://gitlab.com",
    "https://api.bitbucket.org",
    "https://codeberg.org",
    "https://gitea.com",
)
_KEPT_HEADERS = {"content-type", "etag", "link", "location", "retry-after"}


def load(name: str) -> dict[str, Any]:
    capture: dict[str, Any] = json.loads((DATA / name).read_text())
    return capture


def base_url(server: HTTPServer) -> str:
    return server.url_for("").rstrip("/")


def rebase(value: str, server: HTTPServer) -> str:
    for real in _REAL_BASES:
        value = value.replace(real, base_url(server))
    return value


def replay(server: HTTPServer, name: str) -> Response:
    """The captured answer `name`, as the stand-in server sends it."""
    capture = load(name)
    headers: list[tuple[str, str]] = []
    for key, value in capture["headers"].items():
        if key.lower() in _KEPT_HEADERS or key.lower().startswith("x-ratelimit"):
            for one in value if isinstance(value, list) else [value]:
                headers.append((key, rebase(one, server)))
    body = capture["body"]
    if capture["body_is_json"]:
        body = json.dumps(body)
        if not any(key.lower() == "content-type" for key, _ in headers):
            headers.append(("Content-Type", "application/json"))
    return Response(body, status=capture["status"], headers=headers)


def configured(settings: Settings, **environment: str) -> Settings:
    """`settings` with these environment variables read as at startup."""
    values = settings.model_dump(exclude={name.lower() for name in environment})
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def hits(server: HTTPServer, path: str) -> list[Request]:
    """The requests the stand-in server received for `path`, in order."""
    return [request for request, _ in server.log if request.path == path]


async def stored(
    sessionmaker: async_sessionmaker[AsyncSession], package_id: int
) -> Package:
    """The package as the database holds it now."""
    async with sessionmaker() as session:
        package = await session.get(Package, package_id)
    assert package is not None
    return package


async def unsupported(
    sessionmaker: async_sessionmaker[AsyncSession], package_id: int
) -> list[str] | None:
    """The fields the package's forge cannot supply, as its fetch state records."""
    async with sessionmaker() as session:
        return await session.scalar(
            select(FetchState.unsupported).where(
                FetchState.package_id == package_id, FetchState.source == "repo"
            )
        )


class Slow:
    """A handler that answers only after `delay` seconds, counting its calls.

    The server logs a request once its answer is sent, which is after the
    client gave up; `calls` counts on arrival. `settle` waits until every
    call has finished, so none spills into the next test's log.
    """

    def __init__(self, delay: float, answer: Response) -> None:
        self.delay, self.answer = delay, answer
        self.calls = 0
        self._running = 0
        self._idle = threading.Condition()

    def __call__(self, request: Request) -> Response:
        with self._idle:
            self.calls += 1
            self._running += 1
        time.sleep(self.delay)
        with self._idle:
            self._running -= 1
            self._idle.notify_all()
        return self.answer

    async def settle(self) -> None:
        await asyncio.to_thread(self._wait_idle)

    def _wait_idle(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._running == 0, timeout=2)


class FakeClock:
    """Epoch seconds that move only when told, and a sleeper that records.

    Give `time` and `sleep` to a limiter. `sleep(delay)` records the delay,
    then returns once the clock has been advanced past its end: by the test
    (`advance`), or at once by itself when `auto` is set. `asleep` counts
    the tasks sleeping now; `until_asleep(n)` waits for n of them.
    """

    def __init__(self, now: float, *, auto: bool = False) -> None:
        self.now = now
        self.auto = auto
        self.delays: list[float] = []
        self.asleep = 0
        self._tick = asyncio.Event()

    def time(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.delays.append(delay)
        end = self.now + delay
        if self.auto:
            self.now = max(self.now, end)
            await asyncio.sleep(0)
            return
        self.asleep += 1
        try:
            while self.now < end:
                await self._tick.wait()
        finally:
            self.asleep -= 1

    def advance(self, seconds: float) -> None:
        self.now += seconds
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    async def until_asleep(self, tasks: int) -> None:
        for _ in range(1000):
            if self.asleep >= tasks:
                return
            await asyncio.sleep(0.001)
        raise AssertionError(f"{self.asleep} tasks asleep, not {tasks}")
