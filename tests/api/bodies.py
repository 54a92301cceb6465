"""Expected response bodies, spelled out key by key as the v4 API serves them."""

from typing import Any

BASE = "http://testserver/api/v4"

PACKAGE_KEYS = [
    "category",
    "grids",
    "id",
    "title",
    "slug",
    "last_updated",
    "last_fetched",
    "repo_url",
    "pypi_version",
    "created",
    "modified",
    "repo_forks",
    "repo_description",
    "pypi_url",
    "documentation_url",
    "repo_watchers",
    "commits_over_52",
    "participants",
]


def package_body(
    package_id: int,
    *,
    base: str = BASE,
    category_id: int = 1,
    grid_ids: tuple[int, ...] = (),
    **values: Any,
) -> dict[str, Any]:
    """A package as served, for a row made by `tests.factories.make_package`."""
    body = {
        "category": f"{base}/categories/{category_id}/",
        "grids": [f"{base}/grids/{grid_id}/" for grid_id in grid_ids],
        "id": package_id,
        "title": f"Package {package_id}",
        "slug": f"package-{package_id}",
        "last_updated": None,
        "last_fetched": None,
        "repo_url": "",
        "pypi_version": "",
        "created": "2025-01-01T00:00:00Z",
        "modified": "2025-01-01T00:00:00Z",
        "repo_forks": 0,
        "repo_description": "",
        "pypi_url": "",
        "documentation_url": "",
        "repo_watchers": 0,
        "commits_over_52": [],
        "participants": [],
    }
    unknown = set(values) - set(body)
    assert not unknown, f"not package keys: {unknown}"
    return {**body, **values}


def category_body(category_id: int = 1, **values: Any) -> dict[str, Any]:
    """A category as served, for a row made by `tests.factories.make_category`."""
    return {
        "id": category_id,
        "title": "App",
        "slug": "apps",
        "description": "",
        "title_plural": "Apps",
        "show_pypi": True,
        "created": "2025-01-01T00:00:00Z",
        "modified": "2025-01-01T00:00:00Z",
        **values,
    }


def grid_body(
    grid_id: int, *, base: str = BASE, package_ids: tuple[int, ...] = (), **values: Any
) -> dict[str, Any]:
    """A grid as served, for a row made by `tests.factories.make_grid`."""
    return {
        "id": grid_id,
        "title": f"Grid {grid_id}",
        "slug": f"grid-{grid_id}",
        "description": "",
        "is_locked": False,
        "packages": [f"{base}/packages/{package_id}/" for package_id in package_ids],
        "header": False,
        "created": "2025-01-01T00:00:00Z",
        "modified": "2025-01-01T00:00:00Z",
        **values,
    }
