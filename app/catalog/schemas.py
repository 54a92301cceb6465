"""The catalogue document: `{"categories", "grids", "packages"}` in v4 shapes.

Import is lenient where Django Packages data is: anything but the identity
of a record may be missing and takes its empty default. Unknown keys are
ignored, so documents from newer versions still load.
"""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.packages.schemas import Slug


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int = Field(gt=0, le=2**31 - 1)
    title: str = Field(min_length=1, max_length=100)
    slug: Slug
    created: datetime | None = None
    modified: datetime | None = None


class CategoryRecord(_Record):
    description: str = ""
    title_plural: str = ""
    show_pypi: bool = True


class GridRecord(_Record):
    description: str = ""
    is_locked: bool = False
    header: bool = False
    packages: list[str | int] = []


class PackageRecord(_Record):
    category: str | int
    grids: list[str | int] = []
    repo_url: str = ""
    pypi_url: str = ""
    documentation_url: str = ""
    repo_watchers: int = 0
    repo_forks: int = 0
    repo_description: str = ""
    pypi_version: str = ""
    commits_over_52: list[int] = []
    participants: list[str] = []
    last_updated: datetime | None = None
    last_fetched: datetime | None = None


class CatalogDocument(BaseModel):
    model_config = ConfigDict(extra="ignore")

    categories: list[CategoryRecord] = []
    grids: list[GridRecord] = []
    packages: list[PackageRecord] = []
