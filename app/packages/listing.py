"""Filters and ordering of the package list (`GET /api/v4/packages/`).

Filters combine with AND: `category` and `grid` (an id or a slug),
`repo_host` (a forge host the service knows, `other` for a repository
elsewhere, `none` for no repository) and `archived` (true or false).

`ordering` is one or more keys, comma-separated, each ascending or, with a
leading `-`, descending. Rows equal on every key are ordered by id in the
direction of the first key, so pages never repeat or skip a package; a key
with no value (never fetched, never released) sorts last either way.

A value that names nothing, or a key that is not one of these, is a 422
whose message lists what is allowed.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Query
from sqlalchemy import ColumnElement, and_, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.lookup import id_or_slug
from app.errors import InvalidFields
from app.models import Category, Grid, Package, grid_packages
from app.packages.repo_url import Forge

ORDERING: dict[str, Any] = {
    "title": func.lower(Package.title),
    "repo_watchers": Package.repo_watchers,
    "repo_forks": Package.repo_forks,
    "last_updated": Package.last_updated,
    "last_released": Package.pypi_released_at,
    "score": Package.score,
    "created": Package.created,
    "modified": Package.modified,
    "id": Package.id,
}
_NULLABLE = {"last_updated", "last_released"}
DEFAULT_ORDERING = "-id"
OTHER_HOST = "other"
NO_REPOSITORY = "none"
# Grids listed by name in an error; past that the message points at the list.
_LISTED_GRIDS = 50


def _error(name: str, message: str, kind: str) -> InvalidFields:
    return InvalidFields([{"loc": ["query", name], "msg": message, "type": kind}])


@dataclass
class PackageFilters:
    category: str | None
    grid: str | None
    repo_host: str | None
    archived: bool | None
    ordering: str


def package_filters(
    category: Annotated[
        str | None, Query(description="A category's id or slug.")
    ] = None,
    grid: Annotated[str | None, Query(description="A grid's id or slug.")] = None,
    repo_host: Annotated[
        str | None,
        Query(
            description="The repository's host (github.com, gitlab.com, ...), "
            f"`{OTHER_HOST}` for any other host, `{NO_REPOSITORY}` for no repository."
        ),
    ] = None,
    archived: Annotated[
        bool | None, Query(description="Whether the repository is archived.")
    ] = None,
    ordering: Annotated[
        str | None,
        Query(
            description="Comma-separated keys, `-` for descending: "
            + ", ".join(ORDERING)
            + f". Absent means `{DEFAULT_ORDERING}`."
        ),
    ] = None,
) -> PackageFilters:
    # Absent, not defaulted in the document: a generated client then sends
    # nothing, and the paging links stay as the client wrote its query.
    if ordering is None:
        ordering = DEFAULT_ORDERING
    return PackageFilters(category, grid, repo_host, archived, ordering)


def order_by(ordering: str) -> list[Any]:
    """The ORDER BY of an `ordering` value, ending with id as the tie-break."""
    keys = [part.strip() for part in ordering.split(",")]
    seen: set[str] = set()
    clauses: list[Any] = []
    for key in keys:
        name = key.removeprefix("-")
        if name not in ORDERING:
            allowed = ", ".join(ORDERING)
            raise _error(
                "ordering",
                f"{key!r} is not an ordering key; use {allowed}, each optionally with a leading '-'",
                "ordering",
            )
        if name in seen:
            raise _error("ordering", f"{name!r} is given twice", "ordering")
        seen.add(name)
        column = ORDERING[name]
        clause = column.desc() if key.startswith("-") else column.asc()
        clauses.append(clause.nulls_last() if name in _NULLABLE else clause)
    if "id" not in seen:
        clauses.append(Package.id.desc() if keys[0].startswith("-") else Package.id)
    return clauses


async def _category_id(session: AsyncSession, segment: str) -> int:
    found = await session.scalar(
        select(Category.id).where(_id_or_slug(Category, segment))
    )
    if found is not None:
        return found
    rows = await session.execute(
        select(Category.id, Category.slug).order_by(Category.id)
    )
    known = ", ".join(f"{slug} ({category_id})" for category_id, slug in rows)
    raise _error(
        "category",
        f"no category has id or slug {segment!r}; the categories are: {known or 'none'}",
        "reference",
    )


async def _grid_id(session: AsyncSession, segment: str) -> int:
    found = await session.scalar(select(Grid.id).where(_id_or_slug(Grid, segment)))
    if found is not None:
        return found
    rows = (
        await session.execute(
            select(Grid.id, Grid.slug).order_by(Grid.id).limit(_LISTED_GRIDS + 1)
        )
    ).all()
    known = ", ".join(f"{slug} ({grid_id})" for grid_id, slug in rows[:_LISTED_GRIDS])
    if len(rows) > _LISTED_GRIDS:
        known += ", ... (all of them at /api/v4/grids/)"
    raise _error(
        "grid",
        f"no grid has id or slug {segment!r}; the grids are: {known or 'none'}",
        "reference",
    )


def _id_or_slug(model: Any, segment: str) -> ColumnElement[bool]:
    clause = id_or_slug(model, segment)
    return clause if clause is not None else model.id.is_(None)


def _on_host(host: str) -> ColumnElement[bool]:
    # repo_key is "https://HOST/owner/name" on a forge, "HOST/path" elsewhere.
    escaped = host.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(
        Package.repo_key.like(f"https://{escaped}/%", escape="\\"),
        Package.repo_key.like(f"{escaped}/%", escape="\\"),
    )


def _repo_host(host: str, forges: Mapping[str, Forge]) -> ColumnElement[bool]:
    value = host.strip().lower()
    if value in forges:
        return _on_host(value)
    if value == OTHER_HOST:
        return and_(
            Package.repo_url != "", not_(or_(*(_on_host(h) for h in sorted(forges))))
        )
    if value == NO_REPOSITORY:
        return Package.repo_url == ""
    allowed = ", ".join([*sorted(forges), OTHER_HOST, NO_REPOSITORY])
    raise _error(
        "repo_host", f"{host!r} is not a repository host; use {allowed}", "enum"
    )


async def filter_clauses(
    session: AsyncSession, filters: PackageFilters, forges: Mapping[str, Forge]
) -> list[ColumnElement[bool]]:
    """The WHERE clauses the filters ask for; a 422 when one names nothing."""
    clauses: list[ColumnElement[bool]] = []
    if filters.category is not None:
        clauses.append(
            Package.category_id == await _category_id(session, filters.category)
        )
    if filters.grid is not None:
        grid_id = await _grid_id(session, filters.grid)
        members = select(grid_packages.c.package_id).where(
            grid_packages.c.grid_id == grid_id
        )
        clauses.append(Package.id.in_(members))
    if filters.repo_host is not None:
        clauses.append(_repo_host(filters.repo_host, forges))
    if filters.archived is not None:
        clauses.append(Package.repo_archived == filters.archived)
    return clauses
