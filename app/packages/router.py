"""Package routes: read the catalogue, and edit it with a token."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.body import JsonBody
from app.api.caching import (
    check_preconditions,
    content_validators,
    digest_validators,
    item_validators,
    not_modified,
    validator_headers,
)
from app.api.deps import LinksDep, SessionDep, SettingsDep
from app.api.links import Links
from app.api.openapi import NOT_MODIFIED, needs_scope, problems
from app.api.pagination import Paging
from app.auth.tokens import AdminToken, ReadToken, WriteToken
from app.config import Settings
from app.db.base import local_time, utcnow
from app.db.engine import snapshot
from app.db.queries import table_state
from app.errors import NotFound
from app.fetcher.forges import fetched_hosts
from app.models import Category, Grid, Package
from app.models.edit import CREATED, DELETED
from app.packages import edits, listing, repository, service
from app.packages.listing import PackageFilters, package_filters
from app.packages.schemas import (
    PackageCreate,
    PackageEditPage,
    PackageEditRead,
    PackagePage,
    PackageRead,
    PackageUpdate,
    ScoreCategoryRead,
    ScoreComponentRead,
    ScoreRead,
)
from app.packages.score import compute_score

router = APIRouter(prefix="/packages", tags=["packages"])

_NO_PACKAGE = "No such package."
_MERGE_PATCH = {
    "requestBody": {
        "content": {
            "application/merge-patch+json": {
                "schema": {"$ref": "#/components/schemas/PackageUpdate"}
            }
        }
    }
}


async def _read(
    session: AsyncSession, package: Package, links: Links, settings: Settings
) -> PackageRead:
    grids = await repository.grid_ids_by_package(session, [package.id])
    return PackageRead.build(package, grids[package.id], links, settings.zone)


async def _found(
    session: AsyncSession, segment: str, *, for_update: bool = False
) -> Package:
    package = await repository.find_package(session, segment, for_update=for_update)
    if package is None:
        raise NotFound()
    return package


@router.get(
    "/",
    response_model=PackagePage,
    summary="List packages",
    response_description="One page of packages.",
    responses={
        **NOT_MODIFIED,
        **problems(
            422,
            503,
            invalid="A paging value is out of range, or a filter or ordering names nothing known (the allowed ones are listed).",
        ),
    },
)
async def list_packages(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    paging: Annotated[Paging, Depends()],
    links: LinksDep,
    filters: Annotated[PackageFilters, Depends(package_filters)],
) -> PackagePage | Response:
    """List packages, newest first unless `ordering` says otherwise.

    Filters combine: `category` and `grid` take an id or a slug, `repo_host`
    a forge's host (or `other`, `none`), `archived` true or false. `ordering`
    takes comma-separated keys, `-` for descending; equal rows go by id. An
    unknown value or key is a 422 that lists the allowed ones.
    """
    # The count, the page and its grids from one moment: an import or an
    # edit committed between those queries must not show half.
    await snapshot(session)
    state = await table_state(session, Package)
    # A filter by grid or category reads their tables too: a membership or
    # slug that changes there changes the answer.
    states = [state]
    if filters.grid is not None:
        states.append(await table_state(session, Grid))
    if filters.category is not None:
        states.append(await table_state(session, Category))
    validators = digest_validators(
        ("packages", *states, request.url.query),
        max((one.last_modified for one in states if one.last_modified), default=None),
        links,
        settings,
    )
    if (unchanged := not_modified(request, response, validators, settings)) is not None:
        return unchanged

    order = listing.order_by(filters.ordering)
    where = await listing.filter_clauses(session, filters, fetched_hosts(settings))
    count, rows = await repository.list_page(
        session,
        paging.limit,
        paging.offset,
        where=where,
        order_by=order,
        total=None if where else state.count,
    )
    grids = await repository.grid_ids_by_package(session, [row.id for row in rows])
    next_url, previous_url = paging.links(request, count)
    return PackagePage(
        count=count,
        next=next_url,
        previous=previous_url,
        results=[
            PackageRead.build(row, grids[row.id], links, settings.zone) for row in rows
        ],
    )


@router.get(
    "/{package}/",
    response_model=PackageRead,
    summary="Get a package",
    response_description="The package.",
    responses={**NOT_MODIFIED, **problems(404, 422, 503, not_found=_NO_PACKAGE)},
)
async def get_package(
    package: str,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    links: LinksDep,
) -> PackageRead | Response:
    """Get one package by id (all digits) or slug."""
    await snapshot(session)  # its row and its grids from one moment
    row = await _found(session, package)
    validators = item_validators(row.version, row.changed_at, links, settings)
    if (unchanged := not_modified(request, response, validators, settings)) is not None:
        return unchanged
    return await _read(session, row, links, settings)


@router.get(
    "/{package}/score/",
    response_model=ScoreRead,
    summary="Explain a package's score",
    response_description="The score's components and the package's standing.",
    responses={**NOT_MODIFIED, **problems(404, 422, 503, not_found=_NO_PACKAGE)},
)
async def get_package_score(
    package: str,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    links: LinksDep,
) -> ScoreRead | Response:
    """Explain a package's score: each component with its inputs, points and
    why, and where the package stands in its category."""
    row = await _found(session, package)
    now = utcnow()
    explained = compute_score(repository.score_inputs(row), now)
    packages, lower = await repository.category_standing(
        session, row.category_id, row.score
    )
    percentile = round(100 * lower / (packages - 1), 1) if packages > 1 else 100.0
    answer = ScoreRead(
        package=links.package(row.id),
        rule_version=explained.version,
        score=row.score,
        total=explained.total,
        computed_at=local_time(now, settings.zone),
        components=[
            ScoreComponentRead(
                name=part.name,
                inputs={
                    key: local_time(value, settings.zone)
                    if isinstance(value, datetime)
                    else value
                    for key, value in part.inputs.items()
                },
                points=part.points,
                why=part.why,
            )
            for part in explained.components
        ],
        in_category=ScoreCategoryRead(
            category=links.category(row.category_id),
            packages=packages,
            lower=lower,
            percentile=percentile,
        ),
    )
    # Made of the clock as much as of the row: validated by what it says,
    # but for the moment it was worked out, and asked again every time.
    validators = content_validators(
        answer.model_dump_json(exclude={"computed_at"}), links, settings
    )
    if (
        unchanged := not_modified(
            request, response, validators, settings, revalidate=True
        )
    ) is not None:
        return unchanged
    return answer


@router.get(
    "/{package}/edits/",
    response_model=PackageEditPage,
    summary="List a package's edits",
    response_description="One page of the package's edits, newest first.",
    responses=problems(401, 404, 422, 503, not_found=_NO_PACKAGE),
)
async def list_package_edits(
    package: str,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    paging: Annotated[Paging, Depends()],
    links: LinksDep,
    _token: ReadToken,
) -> PackageEditPage:
    """List the edits made to a package over HTTP, newest first: its
    addition, each change with the fields it changed (old and new values),
    and which token made it. Needs a token (any scope). Refreshed stats are
    not edits."""
    row = await _found(session, package)
    count, rows = await edits.page(session, row.id, paging.limit, paging.offset)
    # Behind a token: no cache, shared or not, keeps it for someone else.
    response.headers["Cache-Control"] = "private, no-store"
    next_url, previous_url = paging.links(request, count)
    return PackageEditPage(
        count=count,
        next=next_url,
        previous=previous_url,
        results=[PackageEditRead.build(one, links, settings.zone) for one in rows],
    )


@router.patch(
    "/{package}/",
    response_model=PackageRead,
    summary="Edit a package",
    response_description="The package as the edit left it.",
    responses=problems(
        400,
        401,
        403,
        404,
        409,
        412,
        413,
        415,
        422,
        503,
        forbidden=needs_scope("write"),
        not_found=_NO_PACKAGE,
    ),
    openapi_extra=_MERGE_PATCH,
)
async def update_package(
    package: str,
    patch: PackageUpdate,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    links: LinksDep,
    token: WriteToken,
    _json: JsonBody,
) -> PackageRead:
    """Edit a package with a JSON merge patch (RFC 7396).

    Keys not sent are left alone; null clears repo_url, pypi_url or
    documentation_url. Fetched stats, id, created and modified are read-only:
    they may be sent back unchanged, a different value is refused.
    """
    # The row stays locked until commit: a concurrent DELETE waits, then a
    # later edit finds nothing. The answer is read inside the same
    # transaction, so it is the state this edit committed.
    row = await _found(session, package, for_update=True)
    check_preconditions(
        request, item_validators(row.version, row.changed_at, links, settings)
    )
    grids = await repository.grid_ids_by_package(session, [row.id])
    hosts = fetched_hosts(settings)
    changed, changes = await service.update_package(
        session, row, patch, grids[row.id], hosts
    )
    if changed:
        await edits.record_edited(session, row.id, token, changes)
        row = await repository.get_by_id(session, row.id) or row
    answer = await _read(session, row, links, settings)
    await session.commit()
    response.headers.update(
        validator_headers(item_validators(row.version, row.changed_at, links, settings))
    )
    return answer


@router.post(
    "/",
    response_model=PackageRead,
    status_code=201,
    summary="Add a package",
    response_description="The new package; Location is its URL.",
    responses=problems(
        400, 401, 403, 409, 413, 415, 422, 503, forbidden=needs_scope("write")
    ),
)
async def create_package(
    create: PackageCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    links: LinksDep,
    token: WriteToken,
    _json: JsonBody,
) -> PackageRead:
    """Add a package to the catalogue."""
    row = await service.create_package(session, create, fetched_hosts(settings))
    row = await repository.get_by_id(session, row.id) or row
    grids = await repository.grid_ids_by_package(session, [row.id])
    await edits.record_whole(session, row, grids[row.id], token, CREATED)
    answer = PackageRead.build(row, grids[row.id], links, settings.zone)
    await session.commit()
    response.headers["Location"] = links.package(row.id)
    response.headers.update(
        validator_headers(item_validators(row.version, row.changed_at, links, settings))
    )
    return answer


@router.delete(
    "/{package}/",
    status_code=204,
    response_class=Response,
    summary="Remove a package",
    response_description="Removed.",
    responses=problems(
        401,
        403,
        404,
        409,
        412,
        503,
        forbidden=needs_scope("admin"),
        not_found=_NO_PACKAGE,
        conflict="The package is in a locked grid, whose packages cannot change.",
    ),
)
async def delete_package(
    package: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: AdminToken,
) -> Response:
    """Remove a package from the catalogue, and from its grids with its cells.

    A package in a locked grid is not removed (409): unlock the grid first.
    """
    row = await _found(session, package, for_update=True)
    links = Links.from_request(request)
    check_preconditions(
        request, item_validators(row.version, row.changed_at, links, settings)
    )
    grids = await repository.grid_ids_by_package(session, [row.id])
    await edits.record_whole(session, row, grids[row.id], token, DELETED)
    await service.delete_package(session, row.id)
    await session.commit()
    return Response(status_code=204)
