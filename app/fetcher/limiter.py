"""One limiter per upstream host, shared by every task of the process.

Every request to an upstream passes through that upstream's
`UpstreamLimiter`, which does three things:

- Pause. A rate-limit answer (GitHub's primary limit, a secondary limit, a
  429) pauses the host for everyone until its reset or Retry-After, not
  only the task that got the answer. So does a successful answer whose
  X-RateLimit-Remaining is under the reserve: calls are held until the
  reset, each waiting task sleeping once for the time left (no polling).
- Pace. X-RateLimit-Remaining and X-RateLimit-Reset of every answer spread
  what is left of the quota (less the reserve) evenly until the reset, so a
  round does not spend it in a burst. The spacing is at most
  fetch_rate_limit_max_wait / fetch_concurrency, so waiting for a turn
  never outlasts the cap while every package is queued.
- Cap concurrency at the host concurrency (FETCH_HOST_CONCURRENCY, else
  FETCH_CONCURRENCY) requests in flight; each
  secondary limit halves it until the next run begins.

A wait longer than fetch_rate_limit_max_wait is not waited: the request
raises `RateLimited` at once and the package is tried again next round.

The clock (epoch seconds, as the reset headers are) and the sleeper are
injected, so tests assert the delays asked for without sleeping them.
https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#avoid-concurrent-requests
"""

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import httpx
import structlog

from app.config import Settings
from app.fetcher.errors import RateLimited
from app.ops.metrics import RATE_LIMIT_REMAINING

log = structlog.get_logger(__name__)

Clock = Callable[[], float]
Sleeper = Callable[[float], Awaitable[None]]

# GitHub's advice for a secondary limit without Retry-After: wait at least a
# minute, and longer on repeats. The doubling stops at a quarter of an hour.
SECONDARY_FIRST_WAIT = 60.0
SECONDARY_MAX_WAIT = 900.0
# A limit without Retry-After or a reset time is waited out for a minute.
DEFAULT_LIMIT_WAIT = 60.0


@dataclass(frozen=True, slots=True)
class LimitAnswer:
    """A rate-limit answer, as read from its status, headers and body."""

    kind: Literal["primary", "secondary"]
    retry_after: float | None  # seconds, when the upstream said
    reset: float | None  # epoch seconds of the quota's reset, when given


class UpstreamLimiter:
    def __init__(
        self,
        name: str,
        *,
        concurrency: int,
        reserve: int,
        max_wait: float,
        max_spacing: float,
        clock: Clock = time.time,
        sleep: Sleeper = asyncio.sleep,
    ) -> None:
        self.name = name
        self._configured = concurrency
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._owed = 0  # slots to keep back when released, after a lowering
        self._kept = 0  # slots kept back, given again by begin_run
        self._reserve = reserve
        self._max_wait = max_wait
        self._max_spacing = max_spacing
        self._clock = clock
        self._sleep = sleep
        self.paused_until = 0.0
        self.spacing = 0.0
        self._last_start = 0.0
        self._next_start = 0.0
        self._secondary_hits = 0

    @asynccontextmanager
    async def request(self, url: str) -> AsyncIterator[None]:
        """Wait for this request's turn, then hold a slot while it is in flight."""
        while True:
            await self._wait_turn(url)
            await self._slots.acquire()
            # A pause set while this task queued for a slot holds it too.
            if self._clock() >= self.paused_until:
                break
            self._release()
        try:
            yield
        finally:
            self._release()

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read the quota an answer reports; pace, or hold calls, to match it."""
        remaining = _number(headers.get("x-ratelimit-remaining"))
        reset = _number(headers.get("x-ratelimit-reset"))
        if remaining is None or reset is None:
            return
        RATE_LIMIT_REMAINING.labels(self.name).set(remaining)
        now = self._clock()
        window = reset - now
        if window <= 0:
            self.spacing = 0.0
            return

        limit = _number(headers.get("x-ratelimit-limit"))
        # A reserve of 50 makes no sense for a quota of 60: keep a tenth then.
        reserve = self._reserve if limit is None else min(self._reserve, limit // 10)
        spendable = remaining - reserve
        if spendable <= 0:
            if self._pause(window + 1):
                log.info("fetch.quota_low", upstream=self.name, remaining=remaining)
            return
        self.spacing = min(window / spendable, self._max_spacing)
        self._next_start = max(self._next_start, self._last_start + self.spacing)

    def hit_limit(self, answer: LimitAnswer) -> float:
        """Pause the upstream for everyone as the answer asks; the wait in seconds.

        After a secondary limit, concurrency is halved until the next run.
        """
        now = self._clock()
        if answer.retry_after is not None:
            wait = answer.retry_after
        elif answer.kind == "secondary":
            wait = min(
                SECONDARY_FIRST_WAIT * 2**self._secondary_hits, SECONDARY_MAX_WAIT
            )
        elif answer.reset is not None:
            wait = max(1.0, answer.reset - now + 1)
        else:
            wait = DEFAULT_LIMIT_WAIT

        if answer.kind == "secondary":
            self._secondary_hits += 1
            self._lower_concurrency()
        self._pause(wait)
        log.warning(
            "fetch.rate_limited",
            upstream=self.name,
            kind=answer.kind,
            wait=wait,
            concurrency=self.concurrency,
        )
        return wait

    def begin_run(self) -> None:
        """Give back the concurrency secondary limits took, and forget them."""
        for _ in range(self._kept):
            self._slots.release()
        self._kept = self._owed = 0
        self.concurrency = self._configured
        self._secondary_hits = 0

    async def _wait_turn(self, url: str) -> None:
        while True:
            now = self._clock()
            start = max(now, self.paused_until, self._next_start)
            delay = start - now
            if delay > self._max_wait:
                raise RateLimited(url=url, retry_after=delay)
            self._last_start, self._next_start = start, start + self.spacing
            if delay <= 0:
                return
            await self._sleep(delay)
            # A pause set while this task slept is waited out as well.
            if self._clock() >= self.paused_until:
                return

    def _release(self) -> None:
        if self._owed:
            self._owed -= 1
            self._kept += 1
        else:
            self._slots.release()

    def _pause(self, seconds: float) -> bool:
        """Hold every call for `seconds` from now; whether that extends the pause."""
        until = self._clock() + seconds
        if until <= self.paused_until:
            return False
        self.paused_until = until
        return True

    def _lower_concurrency(self) -> None:
        lowered = max(1, self.concurrency // 2)
        self._owed += self.concurrency - lowered
        self.concurrency = lowered


class Limiters:
    """The limiters of one process, one per upstream, made when first asked for."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = time.time,
        sleep: Sleeper = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self._by_name: dict[str, UpstreamLimiter] = {}

    def get(self, name: str) -> UpstreamLimiter:
        limiter = self._by_name.get(name)
        if limiter is None:
            settings = self._settings
            limiter = self._by_name[name] = UpstreamLimiter(
                name,
                concurrency=settings.host_concurrency,
                reserve=settings.fetch_rate_limit_reserve,
                max_wait=settings.fetch_rate_limit_max_wait,
                max_spacing=settings.fetch_rate_limit_max_wait
                / settings.fetch_concurrency,
                clock=self._clock,
                sleep=self._sleep,
            )
        return limiter

    def begin_run(self) -> None:
        for limiter in self._by_name.values():
            limiter.begin_run()


# The limiters live as long as the HTTP client they pace: a process has one
# shared client, so they are shared by every task of the process.
_BY_CLIENT: "weakref.WeakKeyDictionary[httpx.AsyncClient, Limiters]" = (
    weakref.WeakKeyDictionary()
)


def shared_limiters(client: httpx.AsyncClient, settings: Settings) -> Limiters:
    """The limiters of everything sent through `client`, made on first use."""
    limiters = _BY_CLIENT.get(client)
    if limiters is None:
        limiters = _BY_CLIENT[client] = Limiters(settings)
    return limiters


def use_limiters(client: httpx.AsyncClient, limiters: Limiters) -> None:
    """Pace `client` with `limiters` (a test's, with a fake clock and sleeper)."""
    _BY_CLIENT[client] = limiters


def upstream_name(url: str) -> str:
    """The limiter name of an upstream nobody named: its host and port."""
    parsed = httpx.URL(url)
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
