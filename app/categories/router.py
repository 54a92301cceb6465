"""Category routes."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from app.api.deps import LinksDep, SessionDep, SettingsDep
from app.api.pagination import Page, Paging
from app.categories import repository
from app.categories.schemas import CategoryRead
from app.errors import NotFound

router = APIRouter(prefix="/categories", tags=["categories"])


@router.get("/", response_model=Page[CategoryRead])
async def list_categories(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    paging: Annotated[Paging, Depends()],
    _links: LinksDep,
) -> Page[CategoryRead]:
    """List categories, newest first."""
    count, rows = await repository.list_page(session, paging.limit, paging.offset)
    next_url, previous_url = paging.links(request, count)
    return Page[CategoryRead](
        count=count,
        next=next_url,
        previous=previous_url,
        results=[CategoryRead.build(row, settings.zone) for row in rows],
    )


@router.get(
    "/{category_id}/",
    response_model=CategoryRead,
    responses={404: {"description": "No such category."}},
)
async def get_category(
    category_id: str, session: SessionDep, settings: SettingsDep, _links: LinksDep
) -> CategoryRead:
    """Get one category by its id."""
    category = await repository.find_category(session, category_id)
    if category is None:
        raise NotFound()
    return CategoryRead.build(category, settings.zone)
