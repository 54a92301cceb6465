"""The response cache: finished GET answers kept in memory, per process.

Reads are what other services hit all day, and most of them ask again for
what they asked a moment ago. An answer the service marks as public
(`Cache-Control: public`, with an ETag) is kept here, whole, under what it
was made of: the method, scheme, host, path, query and Accept header. The
next identical request gets those bytes without a query or a model, and a
request whose If-None-Match or If-Modified-Since matches gets its 304 from
here too. Requests that carry credentials are never answered from here.

Correctness with several processes and replicas on one database rests on
`Freshness`: each change to the catalogue, from whichever process, empties
the cache (see `app.db.changes` for how a change is heard). An answer being
built while a change is heard is not kept, so no old answer outlives the
change; while changes cannot be heard the cache is not used at all.

Concurrent misses for the same request are built once: the others wait for
that answer instead of building it again, which matters right after a
change, when every hot answer is missed at once. A change heard while an
answer is built leaves those already waiting with it (they asked while the
change was being made, as its own client did), keeps it out of the cache,
and sends later requests to a build of their own.
"""

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cachetools import LRUCache
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.caching import fresh_for, http_date
from app.ops.metrics import CACHED_ANSWERS, ROUTE_NOTE, UNMATCHED

Headers = list[tuple[bytes, bytes]]
Key = tuple[str, str, bytes, str, bytes, bytes]

# Headers a 304 from here repeats from the 200 it stands for (RFC 9110
# 15.4.5), and the Allow that every API answer carries.
_VALIDATION = (b"etag", b"last-modified", b"cache-control", b"vary", b"allow")


@dataclass(frozen=True, slots=True)
class Entry:
    status: int
    headers: Headers
    body: bytes
    etag: str
    last_modified: datetime | None
    route: str  # the template of the route that made it, for metrics and logs

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(n) + len(v) for n, v in self.headers) + 200


class Freshness:
    """Whether the cache may be used, and a generation that moves on every change.

    The generation lets an answer built across a change be told apart: it is
    kept only if the generation it started in is still the current one.
    """

    def __init__(self) -> None:
        self.generation = 0
        self.watching = False
        self._listeners: list[Any] = []

    def subscribe(self, listener: Any) -> None:
        self._listeners.append(listener)

    def changed(self) -> None:
        """Something in the catalogue changed: everything kept is old."""
        self.generation += 1
        for listener in self._listeners:
            listener()

    def heard(self) -> None:
        """Changes can be heard (again): start from nothing, then keep answers."""
        self.changed()
        self.watching = True

    def deaf(self) -> None:
        """Changes can no longer be heard: forget everything, keep nothing."""
        self.watching = False
        self.changed()


class ResponseCache:
    """ASGI middleware answering repeated public GETs from memory."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, freshness: Freshness) -> None:
        self.app = app
        self.freshness = freshness
        self.enabled = max_bytes > 0
        self.max_entry = max(max_bytes // 16, 1)
        self.entries: LRUCache[Key, Entry] = LRUCache(
            maxsize=max(max_bytes, 1), getsizeof=lambda entry: entry.size
        )
        self.building: dict[Key, asyncio.Future[Entry | None]] = {}
        self.hits = CACHED_ANSWERS.labels("hit")
        self.misses = CACHED_ANSWERS.labels("miss")
        freshness.subscribe(self._forget)

    def _forget(self) -> None:
        # Requests that come after a change must not wait for an answer
        # begun before it; those already waiting share it, as its own
        # client does: they were asked while the change was being made.
        self.entries.clear()
        self.building = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method != "GET":
            try:
                await self.app(scope, receive, send)
            finally:
                if method not in ("HEAD", "OPTIONS"):
                    # This process's own writes are seen at once by its reads.
                    self.freshness.changed()
            return
        if not (self.enabled and self.freshness.watching):
            await self.app(scope, receive, send)
            return
        headers = _request_headers(scope["headers"])
        if b"authorization" in headers:
            await self.app(scope, receive, send)
            return

        key = _key(scope, headers)
        entry = self.entries.get(key)
        if entry is None:
            waiting = self.building.get(key)
            if waiting is not None:
                entry = await asyncio.shield(waiting)
        if entry is not None:
            self.hits.inc()
            note = scope.get(ROUTE_NOTE)
            if note is not None:
                note["route"] = entry.route
            await _replay(entry, headers, send)
            return
        self.misses.inc()
        await self._build(key, scope, receive, send)

    async def _build(
        self, key: Key, scope: Scope, receive: Receive, send: Send
    ) -> None:
        generation = self.freshness.generation
        built: asyncio.Future[Entry | None] = asyncio.get_running_loop().create_future()
        self.building[key] = built
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0

        async def keep(message: Message) -> None:
            nonlocal start, size
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body" and start is not None:
                size += len(message.get("body", b""))
                if size <= self.max_entry:
                    chunks.append(message.get("body", b""))
            await send(message)

        entry = None
        note: dict[str, str] = scope.setdefault(ROUTE_NOTE, {})
        try:
            await self.app(scope, receive, keep)
            if size <= self.max_entry:
                route = note.get("route", UNMATCHED)
                entry = _entry(start, b"".join(chunks), route)
            if entry is not None and self.freshness.generation == generation:
                self.entries[key] = entry
        finally:
            if self.building.get(key) is built:
                del self.building[key]
            built.set_result(entry)


def _request_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in raw}


def _key(scope: Scope, headers: dict[bytes, bytes]) -> Key:
    return (
        scope["scheme"],
        scope.get("root_path", ""),
        headers.get(b"host", b""),
        scope["path"],
        scope.get("query_string", b""),
        headers.get(b"accept", b""),
    )


def _entry(start: Message | None, body: bytes, route: str) -> Entry | None:
    """What to keep of an answer, or None when it is not for keeping."""
    if start is None or start["status"] != 200:
        return None
    headers: Headers = list(start.get("headers", []))
    found = {name.lower(): value for name, value in headers}
    if b"public" not in found.get(b"cache-control", b"") or b"etag" not in found:
        return None
    if b"set-cookie" in found:
        return None
    last_modified = found.get(b"last-modified")
    return Entry(
        status=200,
        headers=headers,
        body=body,
        etag=found[b"etag"].decode("latin-1"),
        last_modified=http_date(last_modified.decode("latin-1"))
        if last_modified
        else None,
        route=route,
    )


async def _replay(entry: Entry, request: dict[bytes, bytes], send: Send) -> int:
    """Send the kept answer, or its 304; the status sent."""
    if_none_match = request.get(b"if-none-match")
    if_modified_since = request.get(b"if-modified-since")
    if (if_none_match or if_modified_since) and fresh_for(
        _text(if_none_match), _text(if_modified_since), entry.etag, entry.last_modified
    ):
        headers = [(n, v) for n, v in entry.headers if n.lower() in _VALIDATION]
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return 304
    await send(
        {
            "type": "http.response.start",
            "status": entry.status,
            "headers": entry.headers,
        }
    )
    await send({"type": "http.response.body", "body": entry.body})
    return entry.status


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None
