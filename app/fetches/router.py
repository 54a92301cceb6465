"""Routes for a package's refresh: `/api/v4/packages/{id or slug}/fetch/`."""

from datetime import datetime

from fastapi import APIRouter, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.caching import digest_validators, not_modified
from app.api.deps import LinksDep, SessionDep, SettingsDep
from app.api.openapi import NOT_MODIFIED, needs_scope, problems
from app.auth.tokens import WriteToken
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
    summary="Get a package's fetch state",
    response_description="How the refresh stands.",
    responses={
        **NOT_MODIFIED,
        **problems(404, 422, 503, not_found="No such package."),
    },
)
async def get_fetch_state(
    package: str,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    links: LinksDep,
) -> FetchRead | Response:
    """How the package's last refresh went, per source, and when the next is due."""
    row = await _found(session, package)
    answer = await service.fetch_state(session, row, links, settings)
    # Built from several tables; small enough to validate by its content.
    # It moves with every lease a refresher takes, so it is asked again every
    # time (no-cache) and never kept by the response cache.
    validators = digest_validators(
        (answer.model_dump_json(),), _last_change(row, answer), links, settings
    )
    unchanged = not_modified(request, response, validators, settings, revalidate=True)
    if unchanged is not None:
        return unchanged
    return answer


def _last_change(package: Package, answer: FetchRead) -> datetime | None:
    moments = [
        package.changed_at,
        answer.requested_at,
        answer.started_at,
        answer.finished_at,
        *(source.last_attempt_at for source in answer.sources),
    ]
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None


@router.post(
    "/{package}/fetch/",
    response_model=FetchRead,
    status_code=202,
    summary="Refresh a package now",
    response_description="Queued; Location is the fetch state.",
    responses=problems(
        401,
        403,
        404,
        422,
        503,
        forbidden=needs_scope("write"),
        not_found="No such package.",
    ),
)
async def request_fetch(
    package: str,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    links: LinksDep,
    _token: WriteToken,
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
