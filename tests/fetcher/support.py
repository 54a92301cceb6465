"""Helpers of the fetcher tests: replaying upstream answers, reading results.

Captured answers are served by a real HTTP server on loopback.

Captures live in tests/data/upstream (see PROVENANCE.md there). Absolute
upstream URLs inside them (Link, Location) are rewritten to the stand-in
server, so nothing ever points past this machine.
"""

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from werkzeug import Request, Response

from app.models import Package

DATA = Path(__file__).resolve().parents[1] / "data" / "upstream"
_REAL_BASES = ("https://api.github.com", "https://pypi.org")
_KEPT_HEADERS = {"content-type", "link", "location", "retry-after"}


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
