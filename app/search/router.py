"""The search route."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import LinksDep, SessionDep, SettingsDep
from app.api.openapi import problems
from app.api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.search import repository
from app.search.query import MAX_QUERY, SearchQuery
from app.search.schemas import SearchResult

router = APIRouter(prefix="/search", tags=["search"])

# How deep into the results `offset` may reach.
MAX_OFFSET = 1000


@router.get(
    "/",
    response_model=list[SearchResult],
    summary="Search packages and grids",
    response_description="One page of matches, best first; none for an empty q.",
    responses=problems(
        422, 503, invalid="q is too long, or limit or offset is out of range."
    ),
)
async def search_catalogue(
    session: SessionDep,
    settings: SettingsDep,
    links: LinksDep,
    q: Annotated[
        str,
        Query(
            max_length=MAX_QUERY,
            description="Any text; its words are matched literally (no operators or wildcards).",
        ),
    ] = "",
    limit: Annotated[
        int,
        Query(
            ge=1,
            description=f"Results to return (default {DEFAULT_LIMIT}; values above {MAX_LIMIT} are capped).",
        ),
    ] = DEFAULT_LIMIT,
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Results to skip.")
    ] = 0,
) -> list[SearchResult]:
    """Search packages and grids, best match first.

    Words match the start of words in the title, slug, description, category
    and participants, weighed in that order; a misspelt word still finds
    what it meant. Equal matches come by score, then id.
    """
    query = SearchQuery.parse(q)
    if query.empty:
        return []
    limit = min(limit, MAX_LIMIT)

    packages, resolved = await repository.search_packages(
        session, query, offset + limit
    )
    grids = await repository.search_grids(session, resolved)
    page = sorted([*packages, *grids], key=lambda hit: hit.order)[
        offset : offset + limit
    ]

    package_rows = await repository.packages_by_id(
        session, [hit.id for hit in page if hit.item_type == "package"]
    )
    grid_rows = await repository.grids_by_id(
        session, [hit.id for hit in page if hit.item_type == "grid"]
    )
    results = []
    for hit in page:
        if hit.item_type == "package":
            package, category = package_rows[hit.id]
            results.append(
                SearchResult.for_package(
                    package, category, hit.weight, links, settings.zone
                )
            )
        else:
            results.append(
                SearchResult.for_grid(
                    grid_rows[hit.id], hit.weight, links, settings.zone
                )
            )
    return results
