"""Rules for writing packages: merge patches, read-only keys, uniqueness.

Edits write only the columns that change (plus `modified`), so a refresh
that lands at the same time keeps its stats. A key the client did not send
is left alone; null clears a nullable text field to "".
"""

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.links import id_from_link
from app.db.base import utcnow
from app.db.queries import existing_ids
from app.errors import Conflict, InvalidFields, field_error
from app.grids import repository as grid_repository
from app.grids.service import GridLocked
from app.models import Category, Grid, Package
from app.packages import edits, repository
from app.packages.repo_url import FORGE_HOSTS, Forge, repo_key, repo_url_problem
from app.packages.schemas import (
    READ_ONLY_FIELDS,
    PackageCreate,
    PackageUpdate,
    PackageWrite,
)

_CLEARABLE = ("repo_url", "pypi_url", "documentation_url")
MAX_URL = 500  # the URL columns' width


def _same(current: Any, sent: Any) -> bool:
    if isinstance(current, datetime) and isinstance(sent, datetime):
        if sent.tzinfo is None:
            sent = sent.replace(tzinfo=UTC)
        return bool(current == sent)
    return bool(current == sent)


def _read_only_errors(package: Package, patch: PackageUpdate) -> list[dict[str, Any]]:
    errors = []
    for name in READ_ONLY_FIELDS:
        if name in patch.model_fields_set and not _same(
            getattr(package, name), getattr(patch, name)
        ):
            errors.append(
                field_error(
                    name,
                    "read-only: it may be sent only with its current value",
                    "read_only",
                )
            )
    return errors


def _references(
    raw: list[int | str], field: str, errors: list[dict[str, Any]]
) -> list[int]:
    ids = []
    resource = "categories" if field == "category" else "grids"
    for index, value in enumerate(raw):
        found = id_from_link(value, resource)
        if found is None:
            errors.append(
                {
                    "loc": ["body", field, index]
                    if field == "grids"
                    else ["body", field],
                    "msg": f"must be an id, or a hyperlink to one of the {resource} (…/{resource}/ID/)",
                    "type": "reference",
                }
            )
        else:
            ids.append(found)
    return ids


async def _resolve(
    session: AsyncSession,
    write: PackageWrite,
    package_id: int | None,
    errors: list[dict[str, Any]],
    hosts: Mapping[str, Forge],
) -> tuple[dict[str, Any], list[int] | None]:
    """Column values and grid ids for the keys `write` carries."""
    sent = write.model_fields_set
    values: dict[str, Any] = {}
    for name in ("title", "slug"):
        if name in sent:
            values[name] = getattr(write, name)
    for name in _CLEARABLE:
        if name in sent:
            values[name] = getattr(write, name) or ""

    if "category" in sent and write.category is not None:
        for category_id in _references([write.category], "category", errors):
            if await existing_ids(session, Category, [category_id]):
                values["category_id"] = category_id
            else:
                errors.append(
                    field_error(
                        "category", f"no category has id {category_id}", "reference"
                    )
                )

    grid_ids: list[int] | None = None
    if "grids" in sent:
        grid_ids = sorted(set(_references(write.grids or [], "grids", errors)))
        missing = set(grid_ids) - await existing_ids(session, Grid, grid_ids)
        if missing:
            listed = ", ".join(str(i) for i in sorted(missing))
            errors.append(field_error("grids", f"no grid has id {listed}", "reference"))

    if values.get("repo_url") and (
        problem := repo_url_problem(values["repo_url"], hosts)
    ):
        # Worded as the schema's own check words it for the public forges.
        errors.append(field_error("repo_url", f"Value error, {problem}"))

    if errors:
        raise InvalidFields(errors)

    if "slug" in values:
        holder = await repository.holder_of(
            session, Package.slug, values["slug"], other_than=package_id
        )
        if holder is not None:
            raise Conflict(
                f"slug {values['slug']!r} is already used by package {holder}"
            )
    if "repo_url" in values:
        values["repo_key"] = repo_key(values["repo_url"], hosts)
        if values["repo_key"] is not None and len(values["repo_key"]) > MAX_URL:
            raise InvalidFields(
                [
                    field_error(
                        "repo_url",
                        f"is longer than {MAX_URL} characters once normalised",
                    )
                ]
            )
        if values["repo_key"] is not None:
            holder = await repository.holder_of(
                session, Package.repo_key, values["repo_key"], other_than=package_id
            )
            if holder is not None:
                raise Conflict(
                    f"repository {values['repo_url']!r} is already used by package {holder}"
                )
    return values, grid_ids


async def update_package(
    session: AsyncSession,
    package: Package,
    patch: PackageUpdate,
    current_grids: list[int],
    hosts: Mapping[str, Forge] = FORGE_HOSTS,
) -> tuple[bool, list[dict[str, Any]]]:
    """Apply a merge patch: whether the row changed, and what changed field
    by field as the edit log has it (a repository key worked out anew for
    the same URL changes the row, not a field).

    `hosts` names the forges (self-hosted ones too) that repository
    identity is worked out for.
    """
    errors = _read_only_errors(package, patch)
    values, grid_ids = await _resolve(session, patch, package.id, errors, hosts)

    changed = {k: v for k, v in values.items() if getattr(package, k) != v}
    grids_changed = grid_ids is not None and grid_ids != current_grids
    if not changed and not grids_changed:
        return False, []
    changes = edits.column_changes(package, changed)
    if grids_changed and grid_ids is not None:
        changes.append(edits.change(edits.GRIDS, sorted(current_grids), grid_ids))

    if grids_changed and grid_ids is not None:
        await _check_unlocked(session, set(grid_ids) ^ set(current_grids))

    changed["modified"] = utcnow()
    await _write(
        session, lambda: repository.update_columns(session, package.id, changed)
    )
    if grids_changed and grid_ids is not None:
        await repository.replace_grids(session, package.id, grid_ids)
        # Their matrices gained or lost a column.
        await grid_repository.touch_all(
            session, set(grid_ids) ^ set(current_grids), changed["modified"]
        )
    return True, changes


async def create_package(
    session: AsyncSession,
    create: PackageCreate,
    hosts: Mapping[str, Forge] = FORGE_HOSTS,
) -> Package:
    values, grid_ids = await _resolve(session, create, None, [], hosts)
    values.setdefault("repo_key", None)
    await _check_unlocked(session, grid_ids or [])
    package = Package(**values)
    await _write(session, lambda: repository.add(session, package))
    if grid_ids:
        await repository.replace_grids(session, package.id, grid_ids)
        await grid_repository.touch_all(session, grid_ids, utcnow())
    return package


async def delete_package(session: AsyncSession, package_id: int) -> None:
    """Remove the package; the grids it was in lose a column, and say so.

    A locked grid keeps its columns: a package in one is not removed.
    """
    grids = await repository.grid_ids_by_package(session, [package_id])
    await _check_unlocked(session, grids[package_id])
    await repository.remove(session, package_id)
    await grid_repository.touch_all(session, grids[package_id], utcnow())


async def _check_unlocked(session: AsyncSession, grid_ids: Iterable[int]) -> None:
    """A package joins or leaves no locked grid."""
    locked = await grid_repository.first_locked(session, grid_ids)
    if locked is not None:
        raise GridLocked(locked)


async def _write(session: AsyncSession, action: Any) -> None:
    """Run a write; a unique value taken by a concurrent writer is a 409."""
    try:
        await action()
    except IntegrityError as exc:
        raise Conflict("slug or repository is already used by another package") from exc
