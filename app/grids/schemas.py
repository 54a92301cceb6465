"""The grid resource as Django Packages v4 serves it, and its comparison matrix."""

from datetime import datetime, tzinfo
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
)

from app.api.links import Hyperlink, Links
from app.api.pagination import Page
from app.db.base import local_time
from app.models import (
    CELL_TEXT_MAX,
    FEATURE_ORDER_MAX,
    FEATURE_TITLE_MAX,
    Grid,
    GridFeature,
)
from app.packages.schemas import SlugText, has_nul


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


# -- the comparison matrix -----------------------------------------------------

FEATURE_DESCRIPTION_MAX = 1000


class FeatureRead(BaseModel):
    """A row of the matrix."""

    id: int
    title: str
    description: str
    order: int = Field(description="Rows are shown by order, then by id.")
    created: datetime
    modified: datetime

    @classmethod
    def build(cls, feature: GridFeature, zone: tzinfo) -> "FeatureRead":
        return cls(
            id=feature.id,
            title=feature.title,
            description=feature.description,
            order=feature.order,
            created=local_time(feature.created, zone),
            modified=local_time(feature.modified, zone),
        )


class MatrixPackage(BaseModel):
    """A column of the matrix: a package with its stats as they are now."""

    id: int
    url: str = Field(description="Hyperlink to the package.")
    title: str
    slug: str
    repo_url: str
    repo_watchers: int = Field(description="The repository's star count.")
    repo_forks: int
    last_updated: datetime | None = Field(
        description="When the repository last had a commit; null until fetched."
    )
    pypi_version: str = Field(description='The latest release; "" when unknown.')
    score: int = Field(description="The package's score; higher is better.")


class CellRead(BaseModel):
    """The text at one feature (row) and one package (column)."""

    feature: int = Field(description="The feature's id.")
    package: int = Field(description="The package's id.")
    text: str


class MatrixRead(BaseModel):
    """A whole grid: its features, its packages and every cell, in one answer."""

    grid: GridRead
    features: list[FeatureRead] = Field(description="The rows, in order.")
    packages: list[MatrixPackage] = Field(
        description="The columns: best score first, then by id."
    )
    cells: list[CellRead] = Field(
        description=(
            "Every filled cell, row by row in the order of `features`, then in "
            "the order of `packages`. A feature and package with no cell here "
            "have nothing written yet."
        )
    )


def shown(name: object, limit: int = 100) -> str:
    """`name` as an error message quotes it: repr, cut short when long."""
    text = repr(name)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _refuse_nul_and_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may not be null")
    if has_nul(value):
        raise ValueError("must not contain a NUL character")
    return value


FeatureTitle = Annotated[
    str, Field(min_length=1, max_length=FEATURE_TITLE_MAX, examples=["Python 3"])
]
FeatureDescription = Annotated[str, Field(max_length=FEATURE_DESCRIPTION_MAX)]
Order = Annotated[StrictInt, Field(ge=0, le=FEATURE_ORDER_MAX)]
CellText = Annotated[
    str, Field(min_length=1, max_length=CELL_TEXT_MAX, examples=["yes"])
]


class _Write(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _checked(cls, value: Any) -> Any:
        return _refuse_nul_and_null(value)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _optional(description: str | None = None) -> Any:
    """A key that may be left out but never sent as null.

    Not a `| None` union: a wrong value then gets one error, not one per
    member of the union, and the schema says what may be sent.
    """
    return Field(default=None, description=description, json_schema_extra=_no_default)


class FeatureCreate(_Write):
    title: FeatureTitle
    description: FeatureDescription = ""
    order: Order = _optional(
        f"Where the row goes, 0 to {FEATURE_ORDER_MAX:,}; left out, after the grid's "
        f"last row (at {FEATURE_ORDER_MAX:,} once the last row is there: equal "
        "orders are shown oldest first)."
    )


class FeatureUpdate(_Write):
    """A JSON merge patch (RFC 7396) of a feature: absent keys stay as they are."""

    title: FeatureTitle = _optional()
    description: FeatureDescription = _optional()
    order: Order = _optional(f"Where the row goes, 0 to {FEATURE_ORDER_MAX:,}.")


class CellWrite(_Write):
    text: CellText = Field(
        description="A short text; send DELETE to empty the cell instead."
    )


class GridPackageAdd(_Write):
    package: StrictInt | StrictStr = Field(
        description="The package's id, slug, or hyperlink (…/packages/ID/).",
        examples=["django-crispy-forms"],
    )

    @field_validator("package", mode="before")
    @classmethod
    def _id_or_text(cls, value: Any) -> Any:
        # One error that says what is wanted, rather than one per union member.
        if value is None:
            return value  # refused as null by the check every key gets
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError("must be an id, a slug or a hyperlink to a package")
        return value
