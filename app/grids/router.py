"""Grid routes."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.api.caching import digest_validators, item_validators, not_modified
from app.api.deps import LinksDep, SessionDep, SettingsDep
from app.api.openapi import NOT_MODIFIED, problems
from app.api.pagination import Paging
from app.db.queries import table_state
from app.errors import NotFound
from app.grids import repository
from app.grids.schemas import GridPage, GridRead
from app.models import Grid

router = APIRouter(prefix="/grids", tags=["grids"])


@router.get(
    "/",
    response_model=GridPage,
    summary="List grids",
    response_description="One page of grids.",
    responses={**NOT_MODIFIED, **problems(422, 503)},
)
async def list_grids(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    paging: Annotated[Paging, Depends()],
    links: LinksDep,
) -> GridPage | Response:
    """List comparison grids, newest first."""
    state = await table_state(session, Grid)
    validators = digest_validators(
        ("grids", state, request.url.query), state.last_modified, links, settings
    )
    if (unchanged := not_modified(request, response, validators, settings)) is not None:
        return unchanged

    count = state.count
    rows = await repository.list_page(session, paging.limit, paging.offset)
    members = await repository.package_ids_by_grid(session, [row.id for row in rows])
    next_url, previous_url = paging.links(request, count)
    return GridPage(
        count=count,
        next=next_url,
        previous=previous_url,
        results=[
            GridRead.build(row, members[row.id], links, settings.zone) for row in rows
        ],
    )


@router.get(
    "/{grid}/",
    response_model=GridRead,
    summary="Get a grid",
    response_description="The grid.",
    responses={**NOT_MODIFIED, **problems(404, 422, 503, not_found="No such grid.")},
)
async def get_grid(
    grid: str,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    links: LinksDep,
) -> GridRead | Response:
    """Get one grid by id (all digits) or slug."""
    row = await repository.find_grid(session, grid)
    if row is None:
        raise NotFound()
    validators = item_validators(row.version, row.changed_at, links, settings)
    if (unchanged := not_modified(request, response, validators, settings)) is not None:
        return unchanged
    members = await repository.package_ids_by_grid(session, [row.id])
    return GridRead.build(row, members[row.id], links, settings.zone)
