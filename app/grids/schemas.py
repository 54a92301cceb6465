"""The grid resource as Django Packages v4 serves it."""

from datetime import datetime, tzinfo

from pydantic import BaseModel, Field

from app.api.links import Hyperlink, Links
from app.api.pagination import Page
from app.db.base import local_time
from app.models import Grid
from app.packages.schemas import SlugText


class GridRead(BaseModel):
    id: int = Field(ge=1)
    title: str
    slug: SlugText
    description: str
    is_locked: bool
    packages: list[Hyperlink] = Field(description="Hyperlinks to the grid's packages.")
    header: bool
    created: datetime
    modified: datetime

    @classmethod
    def build(
        cls, grid: Grid, package_ids: list[int], links: Links, zone: tzinfo
    ) -> "GridRead":
        return cls(
            id=grid.id,
            title=grid.title,
            slug=grid.slug,
            description=grid.description,
            is_locked=grid.is_locked,
            packages=[links.package(package_id) for package_id in package_ids],
            header=grid.header,
            created=local_time(grid.created, zone),
            modified=local_time(grid.modified, zone),
        )


class GridPage(Page[GridRead]):
    """One page of grids."""
