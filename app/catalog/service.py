"""Load a catalogue document into the database and write one out.

Import keeps ids, slugs, created and modified, upserts by id (so loading
the same document twice changes nothing) and runs in the caller's single
transaction, so readers never see half a catalogue. Export writes the same
document shape, ordered by id, so export → import → export is a fixed point.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.links import Links, id_from_link
from app.categories.schemas import CategoryRead
from app.db.base import Base, utcnow
from app.db.queries import insert_missing
from app.grids.schemas import GridRead
from app.models import Category, Grid, Package, grid_packages
from app.packages.repo_url import FORGE_HOSTS, Forge, repo_key
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
    shared_repositories: list[str] = field(default_factory=list)


def _ref(value: str | int, what: str) -> int:
    found = id_from_link(value, what)
    if found is None:
        raise CatalogError(
            f"{value!r} is neither an id nor a hyperlink to one of the {what}"
        )
    return found


async def _upsert(
    session: AsyncSession, model: type[Base], rows: list[dict[str, Any]]
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
                f"{table.name}: the document gives a record a slug or repository that another id already holds"
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

    package_ids = [row["id"] for row in packages]
    for start in range(0, len(package_ids), _CHUNK):
        chunk = package_ids[start : start + _CHUNK]
        await session.execute(
            delete(grid_packages).where(grid_packages.c.package_id.in_(chunk))
        )
    rows = [{"grid_id": g, "package_id": p} for g, p in sorted(memberships)]
    pair = [grid_packages.c.grid_id, grid_packages.c.package_id]
    for start in range(0, len(rows), _CHUNK):
        # A grid of the document may list a package that is already in it.
        await insert_missing(session, grid_packages, rows[start : start + _CHUNK], pair)

    await _sync_sequences(session, ["categories", "grids", "packages"])
    if session.get_bind().dialect.name == "postgresql":
        # Fresh statistics, so the search indexes are used right away rather
        # than after autovacuum's next look at the table.
        await session.execute(text("ANALYZE packages"))
    return summary


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
    }
