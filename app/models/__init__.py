"""The ORM tables. Relationships never load lazily: queries say what they load."""

from app.models.catalog import Category, Grid, Package, grid_packages
from app.models.token import ApiToken

__all__ = ["ApiToken", "Category", "Grid", "Package", "grid_packages"]
