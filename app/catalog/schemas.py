"""The catalogue document: `{"categories", "grids", "packages"}` in v4 shapes,
plus `"features"`: the rows of the grids' matrices, each with its cells.

Import is lenient where Django Packages data is: anything but the identity
of a record may be missing and takes its empty default. Unknown keys are
ignored, so documents from newer versions still load.
"""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from app.models import CELL_TEXT_MAX, FEATURE_ORDER_MAX, FEATURE_TITLE_MAX
from app.packages.schemas import Reference, Slug, has_nul

# The widths of the columns these land in; PostgreSQL refuses anything wider.
Short = Annotated[str, Field(max_length=100)]
Url = Annotated[str, Field(max_length=500)]
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]


# The moments a stored timestamp may name. Wider ones could not be shown in
# every TIME_ZONE (the year 1 has no local time west of UTC) and name no real
# package's history anyway.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _utc(value: datetime | None) -> datetime | None:
    """Timestamps without an offset are taken as UTC; all are kept in UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("is out of the range of dates that can be stored") from exc
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be from the year 1900 to the year 8999")
    return value


Timestamp = Annotated[datetime | None, AfterValidator(_utc)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int = Field(gt=0, le=2**31 - 1)
    title: str = Field(min_length=1, max_length=100)
    slug: Slug
    created: Timestamp = None
    modified: Timestamp = None

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError("must not contain a NUL character")
        return value


class CategoryRecord(_Record):
    description: str = ""
    title_plural: Short = ""
    show_pypi: bool = True


class GridRecord(_Record):
    description: str = ""
    is_locked: bool = False
    header: bool = False
    packages: list[Reference] = []


class PackageRecord(_Record):
    category: Reference
    grids: list[Reference] = []
    repo_url: Url = ""
    pypi_url: Url = ""
    documentation_url: Url = ""
    repo_watchers: Count = 0
    repo_forks: Count = 0
    repo_description: str = ""
    pypi_version: Short = ""
    commits_over_52: list[Count] = []
    participants: list[str] = []
    last_updated: Timestamp = None
    last_fetched: Timestamp = None


class CellRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    package: Reference
    text: str = Field(min_length=1, max_length=CELL_TEXT_MAX)

    @field_validator("text", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError("must not contain a NUL character")
        return value


class FeatureRecord(BaseModel):
    """A row of a grid's matrix. Its cells replace the feature's cells on import."""

    model_config = ConfigDict(extra="ignore")

    id: int = Field(gt=0, le=2**31 - 1)
    grid: Reference
    title: str = Field(min_length=1, max_length=FEATURE_TITLE_MAX)
    description: str = ""
    order: int = Field(default=0, ge=0, le=FEATURE_ORDER_MAX)
    created: Timestamp = None
    modified: Timestamp = None
    cells: list[CellRecord] = []

    @field_validator("title", "description", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError("must not contain a NUL character")
        return value


class CatalogDocument(BaseModel):
    model_config = ConfigDict(extra="ignore")

    categories: list[CategoryRecord] = []
    grids: list[GridRecord] = []
    packages: list[PackageRecord] = []
    features: list[FeatureRecord] = []
