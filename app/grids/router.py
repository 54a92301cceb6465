"""Grid routes: the v4 grid resource, and its comparison matrix with its edits."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.body import JsonBody
from app.api.caching import (
    content_validators,
    digest_validators,
    item_validators,
    not_modified,
)
from app.api.deps import LinksDep, SessionDep, SettingsDep
from app.api.links import Links
from app.api.openapi import NOT_MODIFIED, needs_scope, problems
from app.api.pagination import Paging
from app.auth.tokens import AdminToken, WriteToken
from app.db.engine import snapshot
from app.db.lookup import MAX_ID
from app.db.queries import table_state
from app.errors import NotFound
from app.grids import repository, service
from app.grids.schemas import (
    CellRead,
    CellWrite,
    FeatureCreate,
    FeatureRead,
    FeatureUpdate,
    GridPackageAdd,
    GridPage,
    GridRead,
    MatrixRead,
    shown,
)
from app.grids.table import matrix_csv
from app.models import ApiToken, Grid, GridFeature, Package
from app.packages import edits
from app.packages import repository as packages

router = APIRouter(prefix="/grids", tags=["grids"])

_LOCKED = "The grid is locked."
_INVALID = "A field is missing, unknown, too long or of the wrong type."


def _edit_errors(not_found: str, conflict: str = _LOCKED) -> dict[int | str, Any]:
    """The problems of an edit that takes a JSON body."""
    return problems(
        400,
        401,
        403,
        404,
        409,
        413,
        415,
        422,
        503,
        forbidden=needs_scope("write"),
        not_found=not_found,
        conflict=conflict,
        invalid=_INVALID,
    )


def _remove_errors(not_found: str) -> dict[int | str, Any]:
    """The problems of a DELETE: no body, and no query to get wrong."""
    return problems(
        401,
        403,
        404,
        409,
        503,
        forbidden=needs_scope("admin"),
        not_found=not_found,
        conflict=_LOCKED,
    )


_MERGE_PATCH = {
    "requestBody": {
        "content": {
            "application/merge-patch+json": {
                "schema": {"$ref": "#/components/schemas/FeatureUpdate"}
            }
        }
    }
}


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
    row = await _grid(session, grid)
    validators = item_validators(row.version, row.changed_at, links, settings)
    if (unchanged := not_modified(request, response, validators, settings)) is not None:
        return unchanged
    members = await repository.package_ids_by_grid(session, [row.id])
    return GridRead.build(row, members[row.id], links, settings.zone)


@router.get(
    "/{grid}/matrix/",
    response_model=MatrixRead,
    summary="Get a grid's comparison matrix",
    responses={
        200: {
            "description": (
                "The matrix: JSON, or with format=csv the same table as CSV, "
                "or with format=api the browsable API's HTML page of the JSON."
            ),
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
            },
        },
        **NOT_MODIFIED,
        **problems(404, 422, 503, not_found="No such grid."),
    },
)
async def get_grid_matrix(
    grid: str,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    format: Annotated[
        Literal["json", "api", "csv"] | None,
        Query(
            description=(
                "csv answers the same table as text/csv; json answers JSON; "
                "api answers the browsable API, an HTML page of the JSON. json "
                "and api are kept in every link."
            )
        ),
    ] = None,
) -> MatrixRead | Response:
    """The grid's comparison matrix: features by packages, with every cell.

    Packages come with their stats as they are now (stars, forks, last
    commit, latest release, score), best score first. Four queries answer it
    whatever the grid's size.
    """
    # A feature or cell committed between the four queries must not show.
    await snapshot(session)
    row = await _grid(session, grid)
    base = Links.from_request(request).base
    links = Links(base=base, format=None if format == "csv" else format)
    matrix = await service.read_matrix(session, row, links, settings.zone)
    validators = content_validators(
        f"{format}\x1f{matrix.model_dump_json()}", links, settings
    )
    if (unchanged := not_modified(request, response, validators, settings)) is not None:
        return unchanged
    if format != "csv":
        return matrix
    return Response(
        matrix_csv(matrix),
        media_type="text/csv; charset=utf-8",
        headers={
            **response.headers,
            "Content-Disposition": f'inline; filename="{row.slug}.csv"',
        },
    )


# -- features (rows) ---------------------------------------------------------


@router.get(
    "/{grid}/features/{feature}/",
    response_model=FeatureRead,
    summary="Get a grid feature",
    response_description="The feature.",
    responses={
        **NOT_MODIFIED,
        **problems(404, 503, not_found="No such grid, or no such feature in it."),
    },
)
async def get_grid_feature(
    grid: str,
    feature: str,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    links: LinksDep,
) -> FeatureRead | Response:
    """Get one feature (row) of a grid."""
    row = await _grid(session, grid)
    found = await _feature(session, row, feature)
    answer = FeatureRead.build(found, settings.zone)
    validators = digest_validators(
        (answer.model_dump_json(),), found.modified, links, settings
    )
    if (unchanged := not_modified(request, response, validators, settings)) is not None:
        return unchanged
    return answer


@router.post(
    "/{grid}/features/",
    response_model=FeatureRead,
    status_code=201,
    summary="Add a feature to a grid",
    response_description="The new feature; Location is its URL.",
    responses=_edit_errors(
        "No such grid.",
        "The grid is locked, or it has a feature with that title already.",
    ),
)
async def create_grid_feature(
    grid: str,
    create: FeatureCreate,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    links: LinksDep,
    _token: WriteToken,
    _json: JsonBody,
) -> FeatureRead:
    """Add a feature (row) to a grid; without an order it goes last."""
    row = await _editable_grid(session, grid)
    feature = await service.create_feature(session, row, create)
    answer = FeatureRead.build(feature, settings.zone)
    await session.commit()
    response.headers["Location"] = Links(base=links.base).feature(row.id, feature.id)
    return answer


@router.patch(
    "/{grid}/features/{feature}/",
    response_model=FeatureRead,
    summary="Edit a grid feature",
    response_description="The feature as it is now.",
    responses=_edit_errors(
        "No such grid, or no such feature in it.",
        "The grid is locked, or another of its features has that title.",
    ),
    openapi_extra=_MERGE_PATCH,
)
async def update_grid_feature(
    grid: str,
    feature: str,
    patch: FeatureUpdate,
    session: SessionDep,
    settings: SettingsDep,
    _token: WriteToken,
    _json: JsonBody,
) -> FeatureRead:
    """Edit a feature's title, description or order (a JSON merge patch)."""
    row = await _editable_grid(session, grid)
    found = await _feature(session, row, feature)
    if await service.update_feature(session, row, found, patch):
        found = await _feature(session, row, feature, refresh=True)
    answer = FeatureRead.build(found, settings.zone)
    await session.commit()
    return answer


@router.delete(
    "/{grid}/features/{feature}/",
    status_code=204,
    response_class=Response,
    summary="Remove a grid feature",
    response_description="The feature and its cells are gone.",
    responses=_remove_errors("No such grid, or no such feature in it."),
)
async def delete_grid_feature(
    grid: str, feature: str, session: SessionDep, _token: AdminToken
) -> Response:
    """Remove a feature (row) and its cells from a grid."""
    row = await _editable_grid(session, grid)
    await service.delete_feature(session, row, await _feature(session, row, feature))
    await session.commit()
    return Response(status_code=204)


# -- cells (feature x package) -------------------------------------------------


@router.get(
    "/{grid}/features/{feature}/cells/{package}/",
    response_model=CellRead,
    summary="Get a grid cell",
    response_description="The cell's text.",
    responses={
        **NOT_MODIFIED,
        **problems(404, 503, not_found="No such grid, feature, package or cell."),
    },
)
async def get_grid_cell(
    grid: str,
    feature: str,
    package: str,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    links: LinksDep,
) -> CellRead | Response:
    """Get the text one package has for one feature of a grid."""
    row = await _grid(session, grid)
    found = await _feature(session, row, feature)
    column = await _package(session, package)
    text = await repository.cell_text(session, found.id, column.id)
    if text is None:
        raise NotFound(_no_cell(found, column))
    answer = CellRead(feature=found.id, package=column.id, text=text)
    # A cell keeps no time of its own: validated by what it says.
    validators = content_validators(answer.model_dump_json(), links, settings)
    if (unchanged := not_modified(request, response, validators, settings)) is not None:
        return unchanged
    return answer


@router.put(
    "/{grid}/features/{feature}/cells/{package}/",
    response_model=CellRead,
    summary="Write a grid cell",
    response_description="The cell had text, and now has this text.",
    responses={
        201: {
            "model": CellRead,
            "description": "The cell was empty and now has the text; Location is its URL.",
        },
        **_edit_errors(
            "No such grid, feature or package.",
            "The grid is locked, or the package is not in the grid.",
        ),
    },
)
async def write_grid_cell(
    grid: str,
    feature: str,
    package: str,
    cell: CellWrite,
    response: Response,
    session: SessionDep,
    links: LinksDep,
    _token: WriteToken,
    _json: JsonBody,
) -> CellRead:
    """Write the text one package has for one feature; the package must be in the grid.

    Answers 201 when the cell was empty, 200 when its text was replaced.
    """
    row = await _editable_grid(session, grid)
    found = await _feature(session, row, feature)
    column = await _package(session, package)
    created = await service.write_cell(session, row, found, column, cell.text)
    await session.commit()
    if created:
        response.status_code = 201
        response.headers["Location"] = Links(base=links.base).cell(
            row.id, found.id, column.id
        )
    return CellRead(feature=found.id, package=column.id, text=cell.text)


@router.delete(
    "/{grid}/features/{feature}/cells/{package}/",
    status_code=204,
    response_class=Response,
    summary="Empty a grid cell",
    response_description="The cell is empty.",
    responses=_remove_errors(
        "No such grid, feature or package, or the cell is empty already."
    ),
)
async def delete_grid_cell(
    grid: str, feature: str, package: str, session: SessionDep, _token: AdminToken
) -> Response:
    """Empty one cell."""
    row = await _editable_grid(session, grid)
    found = await _feature(session, row, feature)
    column = await _package(session, package)
    if not await service.delete_cell(session, row, found, column):
        raise NotFound(_no_cell(found, column))
    await session.commit()
    return Response(status_code=204)


# -- packages (columns) --------------------------------------------------------


@router.post(
    "/{grid}/packages/",
    response_model=GridRead,
    status_code=201,
    summary="Add a package to a grid",
    response_description="The package was added; the grid as it is now.",
    responses={
        200: {
            "model": GridRead,
            "description": "The package was in the grid already; the grid.",
        },
        **_edit_errors("No such grid."),
    },
)
async def add_grid_package(
    grid: str,
    add: GridPackageAdd,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    links: LinksDep,
    token: WriteToken,
    _json: JsonBody,
) -> GridRead:
    """Put a package in a grid (a new column of its matrix).

    Answers 201 when it was added, 200 when it was in the grid already.
    """
    row = await _editable_grid(session, grid)
    package_row, added = await service.add_package(session, row, add.package)
    members = await repository.package_ids_by_grid(session, [row.id])
    if added:
        await _log_membership(session, package_row, row, token)
        await session.refresh(row)
    answer = GridRead.build(row, members[row.id], links, settings.zone)
    await session.commit()
    if added:
        # The membership's own URL: a DELETE there takes the package out.
        response.headers["Location"] = Links(base=links.base).grid_member(
            row.id, package_row.id
        )
    else:
        response.status_code = 200
    return answer


@router.delete(
    "/{grid}/packages/{package}/",
    status_code=204,
    response_class=Response,
    summary="Take a package out of a grid",
    response_description="The package and its cells are out of the grid.",
    responses=_remove_errors(
        "No such grid or package, or the package is not in the grid."
    ),
)
async def remove_grid_package(
    grid: str, package: str, session: SessionDep, token: AdminToken
) -> Response:
    """Take a package, and its cells, out of a grid."""
    row = await _editable_grid(session, grid)
    column = await _package(session, package)
    if not await service.remove_package(session, row, column):
        raise NotFound(f"Package {column.slug!r} is not in grid {row.slug!r}.")
    await _log_membership(session, column, row, token)
    await session.commit()
    return Response(status_code=204)


async def _log_membership(
    session: AsyncSession, package: Package, grid: Grid, token: ApiToken
) -> None:
    """A package that joined or left `grid` changed its `grids`: log it so."""
    now = (await packages.grid_ids_by_package(session, [package.id]))[package.id]
    before = sorted(set(now) ^ {grid.id})
    await edits.record_edited(
        session, package.id, token, [edits.change(edits.GRIDS, before, now)]
    )


# -- lookups -----------------------------------------------------------------


async def _grid(session: AsyncSession, segment: str) -> Grid:
    row = await repository.find_grid(session, segment)
    if row is None:
        raise NotFound()
    return row


async def _editable_grid(session: AsyncSession, segment: str) -> Grid:
    """The grid, its row locked until commit so its edits go one at a time."""
    row = await repository.find_grid(session, segment, for_update=True)
    if row is None:
        raise NotFound()
    service.check_editable(row)
    return row


async def _feature(
    session: AsyncSession, grid: Grid, segment: str, *, refresh: bool = False
) -> GridFeature:
    found = None
    if segment.isascii() and segment.isdigit() and 0 < int(segment) <= MAX_ID:
        found = await repository.find_feature(
            session, grid.id, int(segment), refresh=refresh
        )
    if found is None:
        raise NotFound(f"Grid {grid.slug!r} has no feature {shown(segment)}.")
    return found


async def _package(session: AsyncSession, segment: str) -> Package:
    found = await packages.find_package(session, segment)
    if found is None:
        raise NotFound(f"No package {shown(segment)}.")
    return found


def _no_cell(feature: GridFeature, package: Package) -> str:
    return f"Feature {feature.id} has no cell for package {package.slug!r}."
