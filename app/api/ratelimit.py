"""Per-client inbound rate limits on the API, with the IETF RateLimit headers.

Writes (POST, PUT, PATCH, DELETE) and reads (GET, HEAD) under /api/ each
have their own limit (RATE_LIMIT_WRITES, RATE_LIMIT_READS; empty turns one
off). A client is its token when it sends one, keyed by the token's SHA-256
digest so the secret is never held, else its address as the trusted proxy
headers leave it. Since a made-up token would get a fresh count each time,
the tokens refused (401) from one address are counted too, against the
same limit; past it, that address's token requests are 429s for the rest
of the window. Over the limit the answer is a 429 problem with
`Retry-After`; every answer of a limited request carries
`RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds
until the window resets), as draft-ietf-httpapi-ratelimit-headers names
them: https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/

The counts are fixed windows in this process's memory (the `limits`
library), so each replica and each `serve` worker counts on its own: with N
of them a client may make up to N times the limit. Requests that no limit
covers (OPTIONS, /healthz, /metrics, the docs) cost nothing but a method
and path test.
"""

import hashlib
import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import FixedWindowRateLimiter
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import problem_response

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_METHODS = frozenset({"GET", "HEAD"})
LIMITED_PREFIX = "/api/"


def parse_rate(value: str) -> RateLimitItem | None:
    """One limit such as `120/minute` or `10 per second`; "" is none."""
    value = value.strip()
    if not value:
        return None
    try:
        items = parse_many(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a rate such as 120/minute (a count, then second, minute, hour or day), or empty for none"
        ) from None
    if len(items) != 1:
        raise ValueError(
            f"{value!r} gives {len(items)} rates; give one, such as 120/minute"
        )
    if items[0].amount < 1:
        raise ValueError(
            f"{value!r} allows nothing; leave it empty to turn the limit off"
        )
    return items[0]


def client_key(scope: Scope) -> str:
    """Who is asking: the digest of the bearer token sent, else the address."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.partition(b" ")
            credentials = credentials.strip()
            if scheme.lower() == b"bearer" and credentials:
                return "token:" + hashlib.sha256(credentials).hexdigest()
            break
    return address_key(scope)


def address_key(scope: Scope) -> str:
    client = scope.get("client")
    return "address:" + (client[0] if client else "unknown")


def _what(item: RateLimitItem, kind: str) -> str:
    """`120 writes a minute`, `2 reads in 10 seconds`."""
    unit = item.GRANULARITY.name
    if item.multiples == 1:
        return f"{item.amount} {kind} a {unit}"
    return f"{item.amount} {kind} in {item.multiples} {unit}s"


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        writes: RateLimitItem | None = None,
        reads: RateLimitItem | None = None,
    ) -> None:
        self.app = app
        self.writes = writes
        self.reads = reads
        self.limiter = FixedWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        item = None
        if scope["type"] == "http" and scope["path"].startswith(LIMITED_PREFIX):
            method = scope["method"]
            if method in WRITE_METHODS:
                item, kind = self.writes, "writes"
            elif method in READ_METHODS:
                item, kind = self.reads, "reads"
        if item is None:
            await self.app(scope, receive, send)
            return

        key = client_key(scope)
        # A made-up token would be a fresh count each time: the address also
        # has a count of the tokens refused (401) from it, with the same limit.
        address = address_key(scope) if key.startswith("token:") else None
        if address is not None and not await self.limiter.test(
            item, "refused", address
        ):
            reset = await self._reset(item, "refused", address)
            detail = f"Too many requests with unknown tokens: at most {_what(item, 'unknown tokens')} from each client address. Try again in {reset} seconds."
            await self._refuse(scope, receive, send, detail, item, 0, reset)
            return

        allowed = await self.limiter.hit(item, kind, key)
        reset_at, remaining = await self.limiter.get_window_stats(item, kind, key)
        reset = max(0, math.ceil(reset_at - time.time()))
        if not allowed:
            detail = f"Too many requests: at most {_what(item, kind)} for each token or client address. Try again in {reset} seconds."
            await self._refuse(scope, receive, send, detail, item, remaining, reset)
            return
        headers = _headers(item, remaining, reset)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                if address is not None and message["status"] == 401:
                    await self.limiter.hit(item, "refused", address)
                message = {
                    **message,
                    "headers": [*message.get("headers", []), *headers],
                }
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _reset(self, item: RateLimitItem, kind: str, key: str) -> int:
        """Seconds until the window of `key` resets."""
        reset_at, _ = await self.limiter.get_window_stats(item, kind, key)
        return max(0, math.ceil(reset_at - time.time()))

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        detail: str,
        item: RateLimitItem,
        remaining: int,
        reset: int,
    ) -> None:
        response = problem_response(
            Request(scope), 429, detail, {"Retry-After": str(reset)}
        )
        response.raw_headers.extend(_headers(item, remaining, reset))
        await response(scope, receive, send)


def _headers(
    item: RateLimitItem, remaining: int, reset: int
) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(item.amount).encode()),
        (b"ratelimit-remaining", str(remaining).encode()),
        (b"ratelimit-reset", str(reset).encode()),
    ]
