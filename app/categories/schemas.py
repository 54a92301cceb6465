"""The category resource as Django Packages v4 serves it."""

from datetime import datetime, tzinfo

from pydantic import BaseModel, Field

from app.api.pagination import Page
from app.db.base import local_time
from app.models import Category
from app.packages.schemas import SlugText


class CategoryRead(BaseModel):
    id: int = Field(ge=1)
    title: str
    slug: SlugText
    description: str
    title_plural: str
    show_pypi: bool
    created: datetime
    modified: datetime

    @classmethod
    def build(cls, category: Category, zone: tzinfo) -> "CategoryRead":
        return cls(
            id=category.id,
            title=category.title,
            slug=category.slug,
            description=category.description,
            title_plural=category.title_plural,
            show_pypi=category.show_pypi,
            created=local_time(category.created, zone),
            modified=local_time(category.modified, zone),
        )


class CategoryPage(Page[CategoryRead]):
    """One page of categories."""
