"""Liveness and readiness, for load balancers and orchestrators.

`/healthz` answers as long as the process serves requests; it touches
nothing else, so a database outage does not get healthy replicas killed.
`/readyz` answers 200 only when the database answers and its schema is at
the newest Alembic migration, so traffic waits for the migrate step.
"""

import asyncio

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from app.db.migrate import is_at_head
from app.errors import Problem, problem_response

log = structlog.get_logger(__name__)

router = APIRouter(tags=["operations"])

# A database that takes longer than this to answer is not ready.
READY_TIMEOUT = 5.0


class Health(BaseModel):
    status: str


@router.get("/healthz", response_model=Health, operation_id="get_health")
async def get_health() -> Health:
    """The process is alive and serving requests."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    operation_id="get_readiness",
    responses={
        503: {
            "model": Problem,
            "description": "The database does not answer, or its schema is behind.",
        }
    },
)
async def get_readiness(request: Request) -> Health | JSONResponse:
    """The database answers and its schema is at the newest migration."""
    try:
        at_head = await asyncio.wait_for(
            is_at_head(request.app.state.engine), READY_TIMEOUT
        )
    except (OSError, SQLAlchemyError, TimeoutError) as exc:
        log.warning("readiness.database_unavailable", error=type(exc).__name__)
        return _not_ready(request, "The database does not answer.")
    if not at_head:
        return _not_ready(
            request, "The database schema is not at the newest migration."
        )
    return Health(status="ok")


def _not_ready(request: Request, detail: str) -> JSONResponse:
    return problem_response(request, 503, detail, {"Retry-After": "5"})
