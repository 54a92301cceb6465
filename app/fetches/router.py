"""Routes for a package's refresh: `/api/v4/packages/{id or slug}/fetch/`."""

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import LinksDep, SessionDep, SettingsDep
from app.auth.tokens import TokenDep
from app.errors import NotFound
from app.fetches import service
from app.fetches.schemas import FetchRead
from app.models import Package
from app.packages import repository

router = APIRouter(prefix="/packages", tags=["fetches"])


async def _found(session: AsyncSession, segment: str) -> Package:
    package = await repository.find_package(session, segment)
    if package is None:
        raise NotFound()
    return package


@router.get(
    "/{package}/fetch/",
    response_model=FetchRead,
    responses={404: {"description": "No such package."}},
)
async def get_package_fetch(
    package: str, session: SessionDep, settings: SettingsDep, links: LinksDep
) -> FetchRead:
    """How the package's last refresh went, per source, and when the next is due."""
    row = await _found(session, package)
    return await service.fetch_state(session, row, links, settings)


@router.post(
    "/{package}/fetch/",
    response_model=FetchRead,
    status_code=202,
    responses={
        401: {"description": "No token, or an unknown one."},
        404: {"description": "No such package."},
    },
)
async def request_package_fetch(
    package: str,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    links: LinksDep,
    _token: TokenDep,
) -> FetchRead:
    """Queue a refresh of the package now.

    Answers 202 with a Location to the fetch state. While a refresh is
    queued or running, asking again queues nothing more.
    """
    row = await _found(session, package)
    if await service.request_fetch(session, row):
        await session.commit()
        request.app.state.refresh_wake.set()
    else:
        await session.commit()
    location = links.package(row.id).split("?", 1)[0] + "fetch/"
    response.headers["Location"] = location
    return await service.fetch_state(session, row, links, settings)
