"""The ORM tables. Relationships never load lazily: queries say what they load."""

from app.models.catalog import (
    Category,
    Grid,
    Package,
    catalogue_deletions,
    grid_packages,
)
from app.models.refresh import SOURCES, FetchState, PackageRefresh
from app.models.token import ApiToken

__all__ = [
    "SOURCES",
    "ApiToken",
    "Category",
    "FetchState",
    "Grid",
    "Package",
    "PackageRefresh",
    "catalogue_deletions",
    "grid_packages",
]
