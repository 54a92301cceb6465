"""Category routes."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.api.caching import digest_validators, item_validators, not_modified
from app.api.deps import LinksDep, SessionDep, SettingsDep
from app.api.openapi import NOT_MODIFIED, problems
from app.api.pagination import Paging
from app.categories import repository
from app.categories.schemas import CategoryPage, CategoryRead
from app.db.queries import table_state
from app.errors import NotFound
from app.models import Category

router = APIRouter(prefix="/categories", tags=["categories"])


@router.get(
    "/",
    response_model=CategoryPage,
    summary="List categories",
    response_description="One page of categories.",
    responses={**NOT_MODIFIED, **problems(422, 503)},
)
async def list_categories(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    paging: Annotated[Paging, Depends()],
    links: LinksDep,
) -> CategoryPage | Response:
    """List categories, newest first."""
    state = await table_state(session, Category)
    validators = digest_validators(
        ("categories", state, request.url.query), state.last_modified, links, settings
    )
    if (unchanged := not_modified(request, response, validators, settings)) is not None:
        return unchanged

    count = state.count
    rows = await repository.list_page(session, paging.limit, paging.offset)
    next_url, previous_url = paging.links(request, count)
    return CategoryPage(
        count=count,
        next=next_url,
        previous=previous_url,
        results=[CategoryRead.build(row, settings.zone) for row in rows],
    )


@router.get(
    "/{category_id}/",
    response_model=CategoryRead,
    summary="Get a category",
    response_description="The category.",
    responses={
        **NOT_MODIFIED,
        **problems(404, 422, 503, not_found="No such category."),
    },
)
async def get_category(
    category_id: str,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    links: LinksDep,
) -> CategoryRead | Response:
    """Get one category by its id."""
    category = await repository.find_category(session, category_id)
    if category is None:
        raise NotFound()
    validators = item_validators(category.version, category.changed_at, links, settings)
    if (unchanged := not_modified(request, response, validators, settings)) is not None:
        return unchanged
    return CategoryRead.build(category, settings.zone)
