"""Prometheus metrics: requests, upstream fetches, rate-limit budget, staleness.

What is counted:

- `packages_api_requests_total` and `packages_api_request_duration_seconds`:
  every HTTP answer by method, route template (`/api/v4/packages/{id}/`, so
  ids and slugs do not blow up the series) and status.
- `packages_api_response_cache_total`: GET answers looked up in the
  response cache, by outcome (`hit` or `miss`).
- `packages_api_fetches_total`: every request to an upstream by upstream
  (`github`, `pypi`, or host:port) and outcome (`ok`, `not_modified`,
  `not_found`, `blocked`, `rate_limited`, `transient`, `permanent`).
- `packages_api_upstream_rate_limit_remaining`: the quota an upstream last
  said was left (X-RateLimit-Remaining).
- `packages_api_stalest_package_age_seconds` and
  `packages_api_packages_never_fetched`: read from the database at scrape
  time, so every replica reports the same catalogue-wide truth.

`serve --workers N` runs N processes: the command then points
PROMETHEUS_MULTIPROC_DIR at a fresh folder before the workers start, and
each scrape sums what every worker counted (prometheus-client's
multiprocess mode). https://prometheus.github.io/client_python/multiprocess/
"""

import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import structlog
from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.fetcher.errors import (
    Blocked,
    FetchError,
    NotFound,
    PermanentError,
    RateLimited,
)
from app.models import Package

log = structlog.get_logger("app.requests")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "packages_api_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "packages_api_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
)
CACHED_ANSWERS = Counter(
    "packages_api_response_cache",
    "GET answers looked up in the response cache, by outcome (hit or miss).",
    ["outcome"],
)
FETCHES = Counter(
    "packages_api_fetches",
    "Requests to upstreams, by upstream and outcome.",
    ["upstream", "outcome"],
)
RATE_LIMIT_REMAINING = Gauge(
    "packages_api_upstream_rate_limit_remaining",
    "Requests an upstream last said were left of its rate-limit quota.",
    ["upstream"],
    multiprocess_mode="mostrecent",
)

# A path no route matched: one series for all of them.
UNMATCHED = "<unmatched>"


def record_fetch(upstream: str, status: int | None, error: FetchError | None) -> None:
    """Count one upstream request by how it ended (after its retries)."""
    FETCHES.labels(upstream, fetch_outcome(status, error)).inc()


def fetch_outcome(status: int | None, error: FetchError | None) -> str:
    if error is None:
        return "not_modified" if status == 304 else "ok"
    if isinstance(error, RateLimited):
        return "rate_limited"
    if isinstance(error, NotFound):
        return "not_found"
    if isinstance(error, Blocked):
        return "blocked"
    if isinstance(error, PermanentError):
        return "permanent"
    return "transient"


# The template of the route that answered, for the recorder outside every
# layer: a dict the recorder puts in the scope, shared by the copies of the
# scope that the layers in between make. The layer inside the routing notes
# the route there, and the response cache notes the one its answer came from.
ROUTE_NOTE = "packages_api.route_note"


def record_request(
    method: str, template: str, path: str, status: int, elapsed: float
) -> None:
    """Count, time and log one answer."""
    REQUESTS.labels(method, template, str(status)).inc()
    REQUEST_SECONDS.labels(method, template).observe(elapsed)
    log.info(
        "request.finished",
        method=method,
        path=path,
        route=template,
        status=status,
        duration_ms=round(elapsed * 1000, 1),
    )


class RequestMetricsMiddleware:
    """Counts and times every answer by its route template, and logs it once.

    It sits outside every other layer but the request id's, so that what
    those layers answer by themselves (a 413, a 429, OPTIONS, an answer from
    the response cache) is counted and logged like the rest, under the
    method the client sent. The log line carries the request id, never
    headers or the query.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status = 500
        note: dict[str, str] = {}
        scope[ROUTE_NOTE] = note

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - started
            template = note.get("route", UNMATCHED)
            record_request(scope["method"], template, scope["path"], status, elapsed)


class RouteNoteMiddleware:
    """Notes the template of the route that answered, from inside the routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            note = scope.get(ROUTE_NOTE)
            if note is not None:
                note["route"] = route_template(scope)


def route_template(scope: Scope) -> str:
    """The full path template of the route that answered, such as
    `/api/v4/packages/{id_or_slug}/`; UNMATCHED when no route did.

    The route in the scope knows its template without the prefixes of the
    routers it was included through; those are the leading segments of the
    path that its own template does not cover. Plain Starlette routes (the
    OpenAPI document, the docs, their assets) leave no route in the scope:
    theirs is found by matching the path again.
    """
    route = scope.get("route")
    if route is None:
        return _plain_route(scope)
    template = getattr(route, "path", None)
    if not template:
        return UNMATCHED
    own = template.split("/")[1:]
    segments = scope["path"].split("/")
    if len(own) >= len(segments):
        return str(template)
    return "/".join(segments[: len(segments) - len(own)] + own)


def _plain_route(scope: Scope) -> str:
    if "endpoint" not in scope or "app" not in scope:
        return UNMATCHED
    for route in scope["app"].router.routes:
        if isinstance(route, Mount) and scope["path"].startswith(route.path + "/"):
            return f"{route.path}/{{path}}"
        if isinstance(route, Route) and route.path_regex.match(scope["path"]):
            return str(route.path)
    return UNMATCHED


class _Staleness(Collector):
    """The catalogue's staleness, as read once for this scrape."""

    def __init__(self, stalest_age: float | None, never_fetched: int) -> None:
        self.stalest_age = stalest_age
        self.never_fetched = never_fetched

    def collect(self):  # type: ignore[no-untyped-def]
        age = GaugeMetricFamily(
            "packages_api_stalest_package_age_seconds",
            "Seconds since the least recently fetched package was fetched "
            "(a package never fetched counts from its creation).",
        )
        if self.stalest_age is not None:
            age.add_metric([], self.stalest_age)
        yield age
        yield GaugeMetricFamily(
            "packages_api_packages_never_fetched",
            "Packages whose stats have never been fetched.",
            value=self.never_fetched,
        )


async def _staleness(sessionmaker: async_sessionmaker[AsyncSession]) -> _Staleness:
    oldest = func.min(func.coalesce(Package.last_fetched, Package.created))
    never = func.count().filter(Package.last_fetched.is_(None))
    async with sessionmaker() as session:
        row = (await session.execute(select(oldest, never))).one()
    stalest: datetime | None = row[0]
    age = None if stalest is None else (datetime.now(UTC) - stalest).total_seconds()
    return _Staleness(age, row[1])


router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    operation_id="get_metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format (version 1.0.0 or 0.0.4).",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def get_metrics(request: Request) -> Response:
    """Metrics in Prometheus' text format."""
    staleness = CollectorRegistry()
    try:
        staleness.register(await _staleness(request.app.state.sessionmaker))
    except (SQLAlchemyError, OSError) as exc:
        # The process's own counters are worth a scrape during an outage;
        # the staleness gauges are left out until the database answers.
        log.warning("metrics.database_unavailable", error=type(exc).__name__)
    return Response(
        _process_metrics() + generate_latest(staleness),
        media_type=CONTENT_TYPE_LATEST,
    )


def _process_metrics() -> bytes:
    if MULTIPROC_ENV in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def prepare_multiprocess(workers: int) -> Path | None:
    """Before `workers` (> 1) processes start: a fresh folder they all count into.

    An operator's PROMETHEUS_MULTIPROC_DIR is emptied and used; otherwise a
    temporary folder is made. Returns the folder made here (for the caller
    to remove once the workers are gone), or None.
    """
    if workers <= 1:
        return None
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        path = Path(folder)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return None
    path = Path(tempfile.mkdtemp(prefix="packages-api-metrics-"))
    os.environ[MULTIPROC_ENV] = str(path)
    return path
