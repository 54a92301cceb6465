"""Rules for editing a grid's matrix: locks, unique feature titles, membership.

Every edit refuses a locked grid, and records the change in the grid's
`modified`. A cell may only be written for a feature of the grid and a
package in it; the database holds the same rule (composite foreign keys), so
taking a package out of a grid or deleting a feature removes its cells.
"""

from datetime import tzinfo
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.links import Links, id_from_link
from app.db.base import local_time, utcnow
from app.db.lookup import MAX_ID
from app.errors import Conflict, InvalidFields, field_error
from app.grids import repository
from app.grids.schemas import (
    FeatureCreate,
    FeatureRead,
    FeatureUpdate,
    GridRead,
    MatrixRead,
    shown,
)
from app.models import FEATURE_ORDER_MAX, Grid, GridFeature, Package
from app.packages import repository as packages


async def read_matrix(
    session: AsyncSession, grid: Grid, links: Links, zone: tzinfo
) -> MatrixRead:
    """The grid's whole matrix in three queries, whatever its size."""
    features = await repository.features_of(session, grid.id)
    columns = await repository.matrix_packages(session, grid.id)
    cells = await repository.cells_of(session, grid.id)

    row_of = {feature.id: index for index, feature in enumerate(features)}
    column_of = {column.id: index for index, column in enumerate(columns)}
    cells.sort(key=lambda cell: (row_of[cell[0]], column_of[cell[1]]))
    # Plain data validated once: a large grid has thousands of cells, and
    # one validation of the whole tree is far cheaper than a model per cell.
    return MatrixRead.model_validate(
        {
            "grid": GridRead.build(grid, sorted(column_of), links, zone),
            "features": [FeatureRead.build(feature, zone) for feature in features],
            "packages": [
                {
                    **column._asdict(),
                    "url": links.package(column.id),
                    "last_updated": local_time(column.last_updated, zone),
                }
                for column in columns
            ],
            "cells": [
                {"feature": feature_id, "package": package_id, "text": text}
                for feature_id, package_id, text in cells
            ],
        }
    )


class GridLocked(Conflict):
    def __init__(self, grid: Grid) -> None:
        super().__init__(
            f"Grid {grid.slug!r} is locked: its features, cells and packages "
            "cannot be changed."
        )


def check_editable(grid: Grid) -> None:
    if grid.is_locked:
        raise GridLocked(grid)


def _title_taken(grid: Grid, title: str, holder: int) -> Conflict:
    return Conflict(
        f"Grid {grid.slug!r} already has a feature titled {title!r} (feature {holder})."
    )


async def create_feature(
    session: AsyncSession, grid: Grid, create: FeatureCreate
) -> GridFeature:
    holder = await repository.feature_titled(session, grid.id, create.title)
    if holder is not None:
        raise _title_taken(grid, create.title, holder)
    if "order" in create.model_fields_set:
        order = create.order
    else:
        order = _after(await repository.highest_order(session, grid.id))

    now = utcnow()
    feature = GridFeature(
        grid_id=grid.id,
        title=create.title,
        description=create.description,
        order=order,
        created=now,
        modified=now,
    )
    await _unique_title(
        grid.slug, create.title, repository.add_feature(session, feature)
    )
    await repository.touch(session, grid.id, now)
    return feature


def _after(highest: int | None) -> int:
    """The order that puts a new row after one at `highest`.

    Never past FEATURE_ORDER_MAX: a row there still comes last, since rows
    of equal order are shown by id and the new row has the highest.
    """
    return 0 if highest is None else min(highest + 1, FEATURE_ORDER_MAX)


async def update_feature(
    session: AsyncSession, grid: Grid, feature: GridFeature, patch: FeatureUpdate
) -> bool:
    """Apply a merge patch; True when anything changed."""
    sent = patch.model_dump(exclude_unset=True)
    changed = {k: v for k, v in sent.items() if getattr(feature, k) != v}
    if not changed:
        return False
    if "title" in changed:
        holder = await repository.feature_titled(
            session, grid.id, changed["title"], other_than=feature.id
        )
        if holder is not None:
            raise _title_taken(grid, changed["title"], holder)

    now = utcnow()
    changed["modified"] = now
    await _unique_title(
        grid.slug,
        changed.get("title", feature.title),
        repository.update_feature(session, feature.id, changed),
    )
    await repository.touch(session, grid.id, now)
    return True


async def delete_feature(
    session: AsyncSession, grid: Grid, feature: GridFeature
) -> None:
    await repository.remove_feature(session, feature.id)
    await repository.touch(session, grid.id, utcnow())


async def _unique_title(grid_slug: str, title: str, write: Any) -> None:
    """Run a write; a title a concurrent writer took first is a 409 too.

    Takes the slug, not the grid: a failed flush expires every loaded row,
    and reading one then would fail in its turn.
    """
    try:
        await write
    except IntegrityError as exc:
        raise Conflict(
            f"Grid {grid_slug!r} already has a feature titled {title!r}."
        ) from exc


async def write_cell(
    session: AsyncSession, grid: Grid, feature: GridFeature, package: Package, text: str
) -> bool:
    """Set the cell's text; True when the cell is new."""
    if not await repository.is_member(session, grid.id, package.id):
        raise Conflict(
            f"Package {package.slug!r} is not in grid {grid.slug!r}: add it to "
            "the grid before writing its cells."
        )
    current = await repository.cell_text(session, feature.id, package.id)
    if current == text:
        return False
    if current is None:
        await repository.insert_cell(
            session,
            {
                "grid_id": grid.id,
                "feature_id": feature.id,
                "package_id": package.id,
                "text": text,
            },
        )
    else:
        await repository.update_cell(session, feature.id, package.id, text)
    await repository.touch(session, grid.id, utcnow())
    return current is None


async def delete_cell(
    session: AsyncSession, grid: Grid, feature: GridFeature, package: Package
) -> bool:
    """Empty the cell; False when it was empty already."""
    if await repository.cell_text(session, feature.id, package.id) is None:
        return False
    await repository.remove_cell(session, feature.id, package.id)
    await repository.touch(session, grid.id, utcnow())
    return True


async def _package_named(session: AsyncSession, reference: int | str) -> Package:
    """The package an id, a slug or a hyperlink names, or a 422 that says why."""
    package: Package | None = None
    if isinstance(reference, int):
        if 0 < reference <= MAX_ID:
            package = await packages.find_package(session, str(reference))
    elif (package_id := id_from_link(reference, "packages")) is not None:
        package = await packages.find_package(session, str(package_id))
    elif "/" not in reference:
        package = await packages.find_package(session, reference)
    if package is None:
        raise InvalidFields(
            [
                field_error(
                    "package",
                    f"no package is named {shown(reference)} (give an id, a slug or "
                    "a hyperlink to one of the packages)",
                    "reference",
                )
            ]
        )
    return package


async def add_package(
    session: AsyncSession, grid: Grid, reference: int | str
) -> tuple[Package, bool]:
    """Put the package in the grid; True when it was not in it yet."""
    package = await _package_named(session, reference)
    if await repository.is_member(session, grid.id, package.id):
        return package, False
    await repository.add_member(session, grid.id, package.id)
    await repository.touch(session, grid.id, utcnow())
    return package, True


async def remove_package(session: AsyncSession, grid: Grid, package: Package) -> bool:
    """Take the package and its cells out of the grid; False when it was not in it."""
    if not await repository.is_member(session, grid.id, package.id):
        return False
    await repository.remove_member(session, grid.id, package.id)
    await repository.touch(session, grid.id, utcnow())
    return True
