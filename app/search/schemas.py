"""A search result in the shape Django Packages v4 gives it."""

from datetime import datetime, tzinfo
from typing import Literal

from pydantic import BaseModel, Field

from app.api.links import Links
from app.db.base import local_time
from app.models import Grid, Package
from app.search.query import clean_title, title_no_prefix


class SearchResult(BaseModel):
    description: str
    title: str
    created: datetime
    modified: datetime
    weight: int = Field(
        description="How well the item matches the query; results come highest first."
    )
    item_type: Literal["package", "grid"]
    title_no_prefix: str
    slug: str
    slug_no_prefix: str
    clean_title: str
    category: str = Field(description="The package's category title; empty for a grid.")
    absolute_url: str = Field(description="Hyperlink to the package or grid resource.")
    repo_watchers: int
    repo_forks: int
    pypi_downloads: int = Field(description="Not tracked: always 0.")
    usage: int = Field(description="Not tracked: always 0.")
    participants: str = Field(description="Contributors' logins, comma-separated.")
    last_committed: datetime | None
    last_released: datetime | None = Field(
        description="When the current PyPI version was released, if known."
    )

    @classmethod
    def for_package(
        cls, package: Package, category: str, weight: int, links: Links, zone: tzinfo
    ) -> "SearchResult":
        return cls(
            description=package.repo_description,
            title=package.title,
            created=local_time(package.created, zone),
            modified=local_time(package.modified, zone),
            weight=weight,
            item_type="package",
            title_no_prefix=title_no_prefix(package.title),
            slug=package.slug,
            slug_no_prefix=title_no_prefix(package.slug),
            clean_title=clean_title(package.title),
            category=category,
            absolute_url=links.package(package.id),
            repo_watchers=package.repo_watchers,
            repo_forks=package.repo_forks,
            pypi_downloads=0,
            usage=0,
            participants=",".join(package.participants),
            last_committed=local_time(package.last_updated, zone),
            last_released=local_time(package.pypi_released_at, zone),
        )

    @classmethod
    def for_grid(
        cls, grid: Grid, weight: int, links: Links, zone: tzinfo
    ) -> "SearchResult":
        return cls(
            description=grid.description,
            title=grid.title,
            created=local_time(grid.created, zone),
            modified=local_time(grid.modified, zone),
            weight=weight,
            item_type="grid",
            title_no_prefix=title_no_prefix(grid.title),
            slug=grid.slug,
            slug_no_prefix=title_no_prefix(grid.slug),
            clean_title=clean_title(grid.title),
            category="",
            absolute_url=links.grid(grid.id),
            repo_watchers=0,
            repo_forks=0,
            pypi_downloads=0,
            usage=0,
            participants="",
            last_committed=None,
            last_released=None,
        )
