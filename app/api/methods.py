"""Paths with and without a trailing slash, HEAD, OPTIONS and `Allow`.

Every API path answers both spellings directly: a redirect would drop the
Authorization header and, behind a TLS proxy, send clients to http. The
routes are declared once, with the slash; requests without it are routed
to the same handler. OPTIONS answers for every known path with the methods
it allows, and so does a 405. HEAD is answered for every GET route.
"""

import functools
import json
from typing import Any

from fastapi import FastAPI
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PROBLEM_JSON, NotFound, instance_of, problem

API_PREFIX = "/api/v4"


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app: Any, path: str) -> list[str]:
    """The methods some route answers at `path`, in a stable order."""
    methods = [
        method
        for method in _METHODS
        if any(
            route.matches({"type": "http", "path": path, "method": method})[0]
            == Match.FULL
            for route in app.router.routes
        )
    ]
    if not methods:
        return []
    if "GET" in methods:
        methods.append("HEAD")
    return [*methods, "OPTIONS"]


def _without_body(send: Send) -> Send:
    """Send the GET answer's status and headers, but none of its body."""

    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b""}
        await send(message)

    return send_head


class ApiPathMiddleware:
    """Adds the trailing slash to API paths and answers OPTIONS."""

    def __init__(self, app: ASGIApp, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        # Matching a path against every route for every method is the
        # dearest part of a cached answer; the routes never change once
        # serving, so the methods of recent paths are remembered.
        self.allowed = functools.lru_cache(maxsize=4096)(
            lambda path: ", ".join(allowed_methods(fastapi_app, path)).encode()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        path: str = scope["path"]
        if path.startswith(API_PREFIX) and not path.endswith("/"):
            path += "/"
            scope = {**scope, "path": path, "raw_path": path.encode()}

        if scope["method"] == "OPTIONS":
            await self._options(scope, send, path)
            return
        if path.startswith(API_PREFIX):
            send = self._with_allow(send, path)
        if scope["method"] == "HEAD":
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
            return
        await self.app(scope, receive, send)

    def _with_allow(self, send: Send, path: str) -> Send:
        """Every API answer says which methods its path allows, as DRF does."""

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"allow" for name, _ in headers):
                    methods = self.allowed(path)
                    if methods:
                        headers.append((b"allow", methods))
                message = {**message, "headers": headers}
            await send(message)

        return send_with_allow

    async def _options(self, scope: Scope, send: Send, path: str) -> None:
        methods = allowed_methods(self.fastapi_app, path)
        body: dict[str, object]
        if methods:
            status, body, media_type = 200, {"methods": methods}, b"application/json"
        else:
            status, body = 404, problem(404, NotFound.detail, instance_of(path))
            media_type = PROBLEM_JSON.encode()
        payload = json.dumps(body).encode()
        headers = [
            (b"content-type", media_type),
            (b"content-length", str(len(payload)).encode()),
        ]
        if methods:
            headers.append((b"allow", ", ".join(methods).encode()))
        await send(
            {"type": "http.response.start", "status": status, "headers": headers}
        )
        await send({"type": "http.response.body", "body": payload})
