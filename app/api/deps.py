"""Request-scoped dependencies, as `Annotated` aliases for route signatures."""

from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.links import Links
from app.config import Settings


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


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
