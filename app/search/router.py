"""The search route."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import TypeAdapter

from app.api.caching import content_validators, not_modified
from app.api.deps import LinksDep, SessionDep, SettingsDep
from app.api.links import Links
from app.api.openapi import NOT_MODIFIED, problems
from app.api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.config import Settings
from app.search import repository
from app.search.query import MAX_QUERY, SearchQuery
from app.search.schemas import SearchResult

router = APIRouter(prefix="/search", tags=["search"])

_RESULTS = TypeAdapter(list[SearchResult])

# How deep into the results `offset` may reach.
MAX_OFFSET = 1000


@router.get(
    "/",
    response_model=list[SearchResult],
    summary="Search packages and grids",
    response_description="One page of matches, best first; none for an empty q.",
    responses={
        **NOT_MODIFIED,
        **problems(
            422, 503, invalid="q is too long, or limit or offset is out of range."
        ),
    },
)
async def search_catalogue(
    request: Request,
    response: Response,
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
) -> list[SearchResult] | Response:
    """Search packages and grids, best match first.

    Words match the start of words in the title, slug, description, category
    and participants, weighed in that order; a misspelt word still finds
    what it meant. Equal matches come by score, then id.
    """
    query = SearchQuery.parse(q)
    if query.empty:
        return _validated([], request, response, links, settings)
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
    return _validated(results, request, response, links, settings)


def _validated(
    results: list[SearchResult],
    request: Request,
    response: Response,
    links: Links,
    settings: Settings,
) -> list[SearchResult] | Response:
    """Results with validators made of their content: a 304 saves the transfer."""
    validators = content_validators(
        _RESULTS.dump_json(results).decode(), links, settings
    )
    if (unchanged := not_modified(request, response, validators, settings)) is not None:
        return unchanged
    return results
