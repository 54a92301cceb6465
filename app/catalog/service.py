"""Load a catalogue document into the database and write one out.

Import keeps ids, slugs, created and modified, upserts by id (so loading
the same document twice changes nothing) and runs in the caller's single
transaction, so readers never see half a catalogue. Export writes the same
document shape, ordered by id, so export → import → export is a fixed point.

Grid memberships change only where the document says otherwise, since a
package leaving a grid takes its cells with it. A feature in the document
brings its cells: they replace the cells that feature had.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import delete, insert, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.links import Links, id_from_link
from app.categories.schemas import CategoryRead
from app.db.base import Base, utcnow
from app.db.queries import insert_missing
from app.grids.schemas import FeatureRead, GridRead
from app.models import Category, Grid, GridCell, GridFeature, Package, grid_packages
from app.packages.repo_url import FORGE_HOSTS, Forge, repo_key, repo_url_problem
from app.packages.repository import rescore
from app.packages.schemas import PackageRead

log = structlog.get_logger(__name__)

_CHUNK = 500
MAX_KEY = 500  # the width of packages.repo_key


class CatalogError(ValueError):
    """The document refers to something it does not hold."""


@dataclass
class ImportSummary:
    categories: int = 0
    grids: int = 0
    packages: int = 0
    features: int = 0
    cells: int = 0
    shared_repositories: list[str] = field(default_factory=list)
    # Packages whose repo_url an edit would refuse; imported all the same.
    refused_repo_urls: list[str] = field(default_factory=list)


def _ref(value: str | int, what: str) -> int:
    found = id_from_link(value, what)
    if found is None:
        raise CatalogError(
            f"{value!r} is neither an id nor a hyperlink to one of the {what}"
        )
    return found


async def _upsert(
    session: AsyncSession,
    model: type[Base],
    rows: list[dict[str, Any]],
    conflict: str = "a slug or repository that another id already holds",
) -> None:
    table: Any = model.__table__
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        ids = [row["id"] for row in chunk]
        existing = set(
            await session.scalars(select(table.c.id).where(table.c.id.in_(ids)))
        )
        new = [row for row in chunk if row["id"] not in existing]
        old = [row for row in chunk if row["id"] in existing]
        try:
            if new:
                await session.execute(insert(model), new)
            if old:
                await session.execute(update(model), old)
        except IntegrityError as exc:
            raise CatalogError(
                f"{table.name}: the document gives a record {conflict}"
            ) from exc


async def _sync_sequences(session: AsyncSession, tables: Sequence[str]) -> None:
    """Move PostgreSQL's id sequences past ids that were inserted explicitly."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for name in tables:
        await session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"GREATEST((SELECT MAX(id) FROM {name}), 1))"
            )
        )


async def import_catalog(
    session: AsyncSession, document: Any, hosts: Mapping[str, Forge] = FORGE_HOSTS
) -> ImportSummary:
    """Upsert every record of a catalogue document (a CatalogDocument).

    `hosts` names the forges (self-hosted ones too) repository identity is
    worked out for, so two spellings of one repository are caught.
    """
    _check_unique(document)
    now = utcnow()
    summary = ImportSummary()

    categories = [
        {
            **record.model_dump(exclude={"created", "modified"}),
            "created": record.created or now,
            "modified": record.modified or now,
        }
        for record in document.categories
    ]
    await _upsert(session, Category, categories)
    summary.categories = len(categories)

    grids = [
        {
            **record.model_dump(exclude={"created", "modified", "packages"}),
            "created": record.created or now,
            "modified": record.modified or now,
        }
        for record in document.grids
    ]
    await _upsert(session, Grid, grids)
    summary.grids = len(grids)

    in_use = await session.execute(
        select(Package.repo_key, Package.id).where(Package.repo_key.is_not(None))
    )
    keys_in_use: dict[str | None, int] = {key: package_id for key, package_id in in_use}
    packages: list[dict[str, Any]] = []
    memberships: set[tuple[int, int]] = set()
    for record in document.packages:
        # Django Packages holds repo_urls an edit here would refuse (an
        # organisation's page, a URL with a query): kept as they are, and
        # said, so that an export loads whole. They are served, and fetched
        # only if they still name a repository.
        if record.repo_url.strip() and (
            problem := repo_url_problem(record.repo_url, hosts)
        ):
            summary.refused_repo_urls.append(record.slug)
            log.warning("import.repo_url_refused", slug=record.slug, problem=problem)
        key = repo_key(record.repo_url, hosts)
        if key is not None and len(key) > MAX_KEY:
            raise CatalogError(f"package {record.slug!r}: repo_url is too long")
        holder = keys_in_use.get(key) if key else None
        if key and holder not in (None, record.id):
            summary.shared_repositories.append(record.slug)
            log.warning(
                "import.shared_repository",
                slug=record.slug,
                repo_url=record.repo_url,
                holder=holder,
            )
            key = None
        elif key:
            keys_in_use[key] = record.id
        packages.append(
            {
                **record.model_dump(
                    exclude={"category", "grids", "created", "modified"}
                ),
                "category_id": _ref(record.category, "categories"),
                "repo_key": key,
                "last_updated": record.last_updated,
                "last_fetched": record.last_fetched,
                "created": record.created or now,
                "modified": record.modified or now,
            }
        )
        memberships.update((_ref(g, "grids"), record.id) for g in record.grids)
    for grid in document.grids:
        memberships.update((grid.id, _ref(p, "packages")) for p in grid.packages)

    await _check_references(session, packages, memberships)
    await _upsert(session, Package, packages)
    summary.packages = len(packages)
    await rescore(session, *(row["id"] for row in packages))

    await _write_memberships(session, [row["id"] for row in packages], memberships)
    summary.features, summary.cells = await _import_features(session, document)

    await _sync_sequences(session, ["categories", "grids", "packages", "grid_features"])
    if session.get_bind().dialect.name == "postgresql":
        # Fresh statistics, so the search indexes are used right away rather
        # than after autovacuum's next look at the table.
        await session.execute(text("ANALYZE packages"))
    return summary


def _check_unique(document: Any) -> None:
    """Refuse a document that gives one id, or one slug, to two of its records.

    Upserting by id would quietly let the later record win, and a slug the
    earlier one took would be reported as another id's in the database.
    """
    lists = {
        "categories": (document.categories, ("id", "slug")),
        "grids": (document.grids, ("id", "slug")),
        "packages": (document.packages, ("id", "slug")),
        "features": (document.features, ("id",)),
    }
    for name, (records, keys) in lists.items():
        for key in keys:
            first: dict[Any, int] = {}
            for index, record in enumerate(records):
                value = getattr(record, key)
                earlier = first.setdefault(value, index)
                if earlier != index:
                    raise CatalogError(
                        f"{name}.{index}: {key} {value!r} is also the {key} of {name}.{earlier}"
                    )


async def _write_memberships(
    session: AsyncSession, package_ids: list[int], memberships: set[tuple[int, int]]
) -> None:
    """Give the document's packages exactly the document's grids.

    Only memberships that change are written, so a package that stays in a
    grid keeps its cells there. A grid of the document may also list a
    package the document does not hold; that membership is added.
    """
    for start in range(0, len(package_ids), _CHUNK):
        chunk = package_ids[start : start + _CHUNK]
        pairs = await session.execute(
            select(grid_packages.c.grid_id, grid_packages.c.package_id).where(
                grid_packages.c.package_id.in_(chunk)
            )
        )
        stale = sorted({(g, p) for g, p in pairs} - memberships)
        for first in range(0, len(stale), _CHUNK):
            await session.execute(
                delete(grid_packages).where(
                    tuple_(grid_packages.c.grid_id, grid_packages.c.package_id).in_(
                        stale[first : first + _CHUNK]
                    )
                )
            )
    rows = [{"grid_id": g, "package_id": p} for g, p in sorted(memberships)]
    pair = [grid_packages.c.grid_id, grid_packages.c.package_id]
    for start in range(0, len(rows), _CHUNK):
        await insert_missing(session, grid_packages, rows[start : start + _CHUNK], pair)


async def _import_features(session: AsyncSession, document: Any) -> tuple[int, int]:
    """Upsert the document's features and set each one's cells; the counts of both."""
    now = utcnow()
    features: list[dict[str, Any]] = []
    titles: dict[tuple[int, str], int] = {}
    for record in document.features:
        grid_id = _ref(record.grid, "grids")
        holder = titles.setdefault((grid_id, record.title), record.id)
        if holder != record.id:
            raise CatalogError(
                f"features {holder} and {record.id} of grid {grid_id} are both titled {record.title!r}"
            )
        features.append(
            {
                **record.model_dump(exclude={"grid", "cells", "created", "modified"}),
                "grid_id": grid_id,
                "created": record.created or now,
                "modified": record.modified or now,
            }
        )
    if not features:
        return 0, 0

    grid_ids = set(await session.scalars(select(Grid.id)))
    for feature in features:
        if feature["grid_id"] not in grid_ids:
            raise CatalogError(
                f"feature {feature['id']} names grid {feature['grid_id']}, which is not in the catalogue"
            )
    # Cells first: a feature the document moves to another grid must not
    # keep cells that point at the old one.
    feature_ids = [feature["id"] for feature in features]
    for start in range(0, len(feature_ids), _CHUNK):
        chunk = feature_ids[start : start + _CHUNK]
        await session.execute(delete(GridCell).where(GridCell.feature_id.in_(chunk)))
    await _upsert(
        session,
        GridFeature,
        features,
        "a title another feature of its grid already has",
    )

    members = set(
        (
            await session.execute(
                select(grid_packages.c.grid_id, grid_packages.c.package_id).where(
                    grid_packages.c.grid_id.in_({f["grid_id"] for f in features})
                )
            )
        ).all()
    )
    cells: dict[tuple[int, int], dict[str, Any]] = {}
    for record, feature in zip(document.features, features, strict=True):
        for cell in record.cells:
            package_id = _ref(cell.package, "packages")
            if (feature["grid_id"], package_id) not in members:
                raise CatalogError(
                    f"feature {record.id} has a cell for package {package_id}, which is not in grid {feature['grid_id']}"
                )
            if (record.id, package_id) in cells:
                raise CatalogError(
                    f"feature {record.id} has two cells for package {package_id}"
                )
            cells[(record.id, package_id)] = {
                "grid_id": feature["grid_id"],
                "feature_id": record.id,
                "package_id": package_id,
                "text": cell.text,
            }

    rows = [cells[key] for key in sorted(cells)]
    for start in range(0, len(rows), _CHUNK):
        await session.execute(insert(GridCell), rows[start : start + _CHUNK])
    return len(features), len(rows)


async def _check_references(
    session: AsyncSession,
    packages: list[dict[str, Any]],
    memberships: set[tuple[int, int]],
) -> None:
    category_ids = set(await session.scalars(select(Category.id)))
    grid_ids = set(await session.scalars(select(Grid.id)))
    package_ids = set(await session.scalars(select(Package.id))) | {
        p["id"] for p in packages
    }
    for package in packages:
        if package["category_id"] not in category_ids:
            raise CatalogError(
                f"package {package['slug']!r} names category {package['category_id']}, which is not in the catalogue"
            )
    for grid_id, package_id in sorted(memberships):
        if grid_id not in grid_ids:
            raise CatalogError(
                f"grid {grid_id} is referred to but not in the catalogue"
            )
        if package_id not in package_ids:
            raise CatalogError(
                f"grid {grid_id} lists package {package_id}, which is not in the catalogue"
            )


async def export_catalog(
    session: AsyncSession, links: Links, zone: Any
) -> dict[str, Any]:
    """The whole catalogue as a document, every list ordered by id."""
    categories = (await session.scalars(select(Category).order_by(Category.id))).all()
    grids = (await session.scalars(select(Grid).order_by(Grid.id))).all()
    packages = (await session.scalars(select(Package).order_by(Package.id))).all()
    pairs = (
        await session.execute(
            select(grid_packages.c.grid_id, grid_packages.c.package_id)
        )
    ).all()
    features = (
        await session.scalars(select(GridFeature).order_by(GridFeature.id))
    ).all()
    cells = (
        await session.execute(
            select(GridCell.feature_id, GridCell.package_id, GridCell.text).order_by(
                GridCell.feature_id, GridCell.package_id
            )
        )
    ).all()
    cells_by_feature: dict[int, list[dict[str, Any]]] = {f.id: [] for f in features}
    for feature_id, package_id, cell_text in cells:
        cells_by_feature[feature_id].append(
            {"package": links.package(package_id), "text": cell_text}
        )

    by_grid: dict[int, list[int]] = {grid.id: [] for grid in grids}
    by_package: dict[int, list[int]] = {package.id: [] for package in packages}
    for grid_id, package_id in sorted(pairs):
        by_grid[grid_id].append(package_id)
        by_package[package_id].append(grid_id)
    for members in by_package.values():
        members.sort()

    return {
        "categories": [
            CategoryRead.build(c, zone).model_dump(mode="json") for c in categories
        ],
        "grids": [
            GridRead.build(g, by_grid[g.id], links, zone).model_dump(mode="json")
            for g in grids
        ],
        "packages": [
            PackageRead.build(p, by_package[p.id], links, zone).model_dump(mode="json")
            for p in packages
        ],
        "features": [
            {
                "id": f.id,
                "grid": links.grid(f.grid_id),
                **FeatureRead.build(f, zone).model_dump(mode="json", exclude={"id"}),
                "cells": cells_by_feature[f.id],
            }
            for f in features
        ],
    }
