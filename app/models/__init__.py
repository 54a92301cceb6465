"""The ORM tables. Relationships never load lazily: queries say what they load."""

from app.models.catalog import (
    CELL_TEXT_MAX,
    FEATURE_ORDER_MAX,
    FEATURE_TITLE_MAX,
    Category,
    Grid,
    GridCell,
    GridFeature,
    Package,
    catalogue_deletions,
    grid_packages,
)
from app.models.edit import PackageEdit
from app.models.refresh import SOURCES, FetchState, PackageRefresh
from app.models.token import ApiToken

__all__ = [
    "CELL_TEXT_MAX",
    "FEATURE_ORDER_MAX",
    "FEATURE_TITLE_MAX",
    "SOURCES",
    "ApiToken",
    "Category",
    "FetchState",
    "Grid",
    "GridCell",
    "GridFeature",
    "Package",
    "PackageEdit",
    "PackageRefresh",
    "catalogue_deletions",
    "grid_packages",
]
