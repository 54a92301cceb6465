"""Request-scoped dependencies, as `Annotated` aliases for route signatures."""

from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Annotated

import structlog
from fastapi import Depends, Query, Request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.links import Links
from app.config import Settings

log = structlog.get_logger(__name__)


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    session: AsyncSession = request.app.state.sessionmaker()
    try:
        yield session
    finally:
        try:
            await session.close()
        except (SQLAlchemyError, OSError) as exc:
            # The answer is decided (or already on its way) by now: a
            # connection lost under the closing rollback is no error of the
            # request's; the pool discards that connection.
            log.warning("database.close_failed", error=type(exc).__name__)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


class ResponseFormat(StrEnum):
    """What `?format=` a response is asked in, as Django REST Framework names it."""

    JSON = "json"
    API = "api"


def _links(
    request: Request,
    format: Annotated[
        ResponseFormat | None,
        Query(description="Response format; kept in every link of the response."),
    ] = None,
) -> Links:
    return Links.from_request(request)


SessionDep = Annotated[AsyncSession, Depends(_session)]
SettingsDep = Annotated[Settings, Depends(_settings)]
LinksDep = Annotated[Links, Depends(_links)]
