"""Grid routes."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from app.api.deps import LinksDep, SessionDep, SettingsDep
from app.api.pagination import Page, Paging
from app.errors import NotFound
from app.grids import repository
from app.grids.schemas import GridRead

router = APIRouter(prefix="/grids", tags=["grids"])


@router.get("/", response_model=Page[GridRead])
async def list_grids(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    paging: Annotated[Paging, Depends()],
    links: LinksDep,
) -> Page[GridRead]:
    """List comparison grids, newest first."""
    count, rows = await repository.list_page(session, paging.limit, paging.offset)
    members = await repository.package_ids_by_grid(session, [row.id for row in rows])
    next_url, previous_url = paging.links(request, count)
    return Page[GridRead](
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
    responses={404: {"description": "No such grid."}},
)
async def get_grid(
    grid: str, session: SessionDep, settings: SettingsDep, links: LinksDep
) -> GridRead:
    """Get one grid by id (all digits) or slug."""
    row = await repository.find_grid(session, grid)
    if row is None:
        raise NotFound()
    members = await repository.package_ids_by_grid(session, [row.id])
    return GridRead.build(row, members[row.id], links, settings.zone)
