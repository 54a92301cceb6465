"""Build the application and own its lifespan.

`create_app(settings)` wires everything one process needs: the database
engine and session factory, one shared outbound HTTP client, and, when
enabled, the background refresh of package stats.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy.ext.asyncio import AsyncEngine

from app import __version__
from app.api import root
from app.api.body import BodySizeLimit
from app.api.cors import (
    CORS_EXPOSED_HEADERS,
    CORS_METHODS,
    CORS_REQUEST_HEADERS,
    ProblemCORSMiddleware,
)
from app.api.methods import API_PREFIX, ApiPathMiddleware
from app.api.openapi import install_openapi, operation_id
from app.api.proxy import ProxyHeadersMiddleware
from app.api.ratelimit import RateLimitMiddleware
from app.api.response_cache import Freshness, ResponseCache
from app.api.security import SecurityHeadersMiddleware
from app.browsable.middleware import BrowsableApiMiddleware
from app.categories.router import router as categories_router
from app.config import Settings
from app.db.engine import create_engine, create_sessionmaker
from app.errors import UnexpectedErrors, install_error_handlers
from app.fetches.router import router as fetches_router
from app.grids.router import router as grids_router
from app.logging import configure_logging
from app.ops import health, metrics
from app.packages.router import router as packages_router
from app.search.router import router as search_router

DESCRIPTION = """
A curated catalogue of Python packages in the shape of the Django Packages
REST API v4: packages, categories and grids, with repository and release
stats kept fresh from GitHub and PyPI. Reads are open; edits need a token
(`packages-api token create NAME`) sent as `Authorization: Bearer <token>`.
"""


def create_app(
    settings: Settings | None = None, *, engine: AsyncEngine | None = None
) -> FastAPI:
    settings = settings or Settings()
    freshness = Freshness()
    caching = settings.response_cache_mb > 0

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from app.fetcher.client import create_http_client

        own_engine = engine is None
        db_engine = engine or create_engine(settings.database_url)
        app.state.engine = db_engine
        app.state.sessionmaker = create_sessionmaker(db_engine)
        # Set by a request for a refresh now, so this process's refresher
        # does not wait out its poll interval.
        app.state.refresh_wake = asyncio.Event()
        async with create_http_client(settings) as http_client:
            app.state.http_client = http_client
            stop = asyncio.Event()
            background = []
            if caching:
                from app.db.changes import watch_changes

                background.append(
                    asyncio.create_task(
                        watch_changes(
                            db_engine,
                            settings.database_url,
                            freshness,
                            settings.change_poll_seconds,
                            stop,
                        ),
                        name="changes",
                    )
                )
            if settings.fetch_enabled:
                from app.fetcher.scheduler import refresh_forever

                background.append(
                    asyncio.create_task(
                        refresh_forever(
                            settings,
                            app.state.sessionmaker,
                            http_client,
                            stop=stop,
                            wake=app.state.refresh_wake,
                        ),
                        name="refresh",
                    )
                )
            try:
                yield
            finally:
                stop.set()
                for task in background:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                if own_engine:
                    await db_engine.dispose()

    # Swagger UI and ReDoc served with their assets from this service, so the
    # docs work on a closed network (no CDN); no online validator badge.
    app = FastAPIOffline(
        title="Packages API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
        generate_unique_id_function=operation_id,
        static_url="/docs-assets",
        swagger_ui_parameters={"validatorUrl": None},
        # Observability is Prometheus metrics and structured logs (app.ops);
        # FastAPI's own OpenTelemetry hooks would look for providers on
        # every request and find none.
        telemetry={
            "tracing": False,
            "metrics": False,
            "logs": False,
            "operation_spans": False,
        },
    )
    app.state.settings = settings
    app.state.freshness = freshness
    install_error_handlers(app)
    install_openapi(app)

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(root.router)
    api.include_router(packages_router)
    api.include_router(fetches_router)
    api.include_router(categories_router)
    api.include_router(grids_router)
    api.include_router(search_router)
    app.include_router(api)
    app.include_router(root.service_router)
    app.include_router(health.router)
    app.include_router(metrics.router)

    # Outermost last. Innermost, an exception no handler took becomes the
    # 500 problem, so that it too goes out through every layer above; the
    # matched route is noted next, for the metrics; bodies too large are
    # refused before anything reads them; the path middleware adds the slash
    # and Allow, and the browsable API turns the finished JSON answer into a
    # page. The response cache keeps those finished answers and sends them
    # again from outside all of that. The request id is bound before
    # anything logs, and every answer is counted and logged right inside it;
    # proxy headers are applied before anything builds a link.
    app.add_middleware(UnexpectedErrors)
    app.add_middleware(metrics.RouteNoteMiddleware)
    app.add_middleware(BodySizeLimit)
    app.add_middleware(ApiPathMiddleware, fastapi_app=app)
    app.add_middleware(BrowsableApiMiddleware, fastapi_app=app)
    if caching:
        app.add_middleware(
            ResponseCache,
            max_bytes=settings.response_cache_mb * 2**20,
            freshness=freshness,
        )
    # The edge, inside the proxy headers (the client's real address and
    # scheme), outermost last: rate limits answer a 429 before any work;
    # CORS, when configured, wraps them so a browser can read a 429 too and
    # preflights never count; security headers go on every answer, those
    # two's included.
    app.add_middleware(
        RateLimitMiddleware, writes=settings.write_rate, reads=settings.read_rate
    )
    if settings.cors_allow_origins:
        app.add_middleware(
            ProblemCORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(
        ProxyHeadersMiddleware,
        trusted_hosts=[h.strip() for h in settings.forwarded_allow_ips.split(",")],
    )
    app.add_middleware(metrics.RequestMetricsMiddleware)
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID")
    return app


def serve_app() -> FastAPI:
    """The app each `serve` worker process builds, from the environment."""
    settings = Settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
