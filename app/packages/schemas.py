"""The package resource as Django Packages v4 serves it, and its edits.

`PackageRead` has exactly the reference's 18 keys in the reference's order.
`PackageUpdate` is a JSON merge patch over the writable keys; it also admits
the read-only keys so a client can send back what it read, and the service
refuses only a read-only key whose value differs from the stored one.
"""

import re
from datetime import datetime, tzinfo
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    field_validator,
)

from app.api.links import Hyperlink, Links
from app.api.pagination import Page
from app.db.base import local_time
from app.models import Package, PackageEdit
from app.packages.pypi_url import pypi_name
from app.packages.repo_url import repo_url_problem

SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"
_SLUG = re.compile(SLUG_PATTERN)

READ_ONLY_FIELDS = (
    "id",
    "created",
    "modified",
    "last_fetched",
    "last_updated",
    "repo_watchers",
    "repo_forks",
    "repo_description",
    "pypi_version",
    "commits_over_52",
    "participants",
)


SlugText = Annotated[
    str,
    WithJsonSchema({"type": "string", "pattern": SLUG_PATTERN, "maxLength": 100}),
]


class PackageRead(BaseModel):
    category: Hyperlink = Field(description="Hyperlink to the package's category.")
    grids: list[Hyperlink] = Field(
        description="Hyperlinks to the grids the package is in."
    )
    id: int = Field(ge=1)
    title: str
    slug: SlugText = Field(
        description="Letters, digits, '-' and '_'; never all digits."
    )
    last_updated: datetime | None = Field(
        description="When the repository last had a commit; null until fetched."
    )
    last_fetched: datetime | None = Field(
        description="When the stats were last fetched; null until then."
    )
    repo_url: str = Field(
        description="The repository's web address as entered, or an empty string."
    )
    pypi_version: str = Field(
        description="The latest release on PyPI, or an empty string until fetched."
    )
    created: datetime
    modified: datetime = Field(description="When the package was last edited.")
    repo_forks: int = Field(ge=0)
    repo_description: str
    pypi_url: str = Field(
        description="The PyPI project as a URL or a bare name, or an empty string."
    )
    documentation_url: str = Field(description="An http(s) URL, or an empty string.")
    repo_watchers: int = Field(ge=0, description="The repository's star count.")
    commits_over_52: list[int] = Field(
        description="Commits in each of the last 52 weeks, oldest first; [] until fetched."
    )
    participants: list[str] = Field(description="Contributors' logins.")

    @classmethod
    def build(
        cls, package: Package, grid_ids: list[int], links: Links, zone: tzinfo
    ) -> "PackageRead":
        return cls(
            category=links.category(package.category_id),
            grids=[links.grid(grid_id) for grid_id in grid_ids],
            id=package.id,
            title=package.title,
            slug=package.slug,
            last_updated=local_time(package.last_updated, zone),
            last_fetched=local_time(package.last_fetched, zone),
            repo_url=package.repo_url,
            pypi_version=package.pypi_version,
            created=local_time(package.created, zone),
            modified=local_time(package.modified, zone),
            repo_forks=package.repo_forks,
            repo_description=package.repo_description,
            pypi_url=package.pypi_url,
            documentation_url=package.documentation_url,
            repo_watchers=package.repo_watchers,
            commits_over_52=package.commits_over_52,
            participants=package.participants,
        )


def _check_slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError("a slug is letters, digits, '-' and '_' only")
    if value.isdigit():
        raise ValueError("a slug may not be all digits: that would read as an id")
    return value


def _is_http_url(value: str) -> bool:
    if any(char.isspace() for char in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises on a port that is not a number in range)
    except ValueError:
        return False
    return parts.scheme.lower() in {"http", "https"} and bool(parts.hostname)


def has_nul(value: Any) -> bool:
    """Whether a string, or a string in (nested) lists, holds a NUL character."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str) and "\x00" in item:
            return True
        if isinstance(item, list):
            pending.extend(item)
    return False


def _check_http_url(value: str) -> str:
    value = value.strip()
    if value and not _is_http_url(value):
        raise ValueError("must be an http(s) URL, or empty")
    return value


def _check_repo_url(value: str) -> str:
    """Checked against the public forges; the service checks it again
    against the self-hosted ones in settings."""
    value = value.strip()
    if value and (problem := repo_url_problem(value)) is not None:
        raise ValueError(problem)
    return value


def _check_pypi_url(value: str) -> str:
    value = value.strip()
    if value and pypi_name(value) is None:
        raise ValueError(
            "must be a PyPI project URL (https://pypi.org/project/NAME/) or name, or empty"
        )
    return value


Title = Annotated[str, Field(min_length=1, max_length=100)]
Slug = Annotated[
    str,
    Field(min_length=1, max_length=100, pattern=SLUG_PATTERN),
    AfterValidator(_check_slug),
]
HttpUrlText = Annotated[str, Field(max_length=500), AfterValidator(_check_http_url)]
RepoUrlText = Annotated[str, Field(max_length=500), AfterValidator(_check_repo_url)]
PypiUrlText = Annotated[str, Field(max_length=500), AfterValidator(_check_pypi_url)]
Reference = Annotated[
    StrictInt | StrictStr,
    Field(description="A hyperlink to the resource, or its id."),
]

_NOT_NULL = ("title", "slug", "category")


def _never_null(schema: dict[str, Any]) -> WithJsonSchema:
    """The documented schema of a key that may be left out but is never null.

    Such keys are `X | None = None` only to tell "absent" from "sent"; a
    null is refused, so the document must not offer it.
    """
    return WithJsonSchema(schema)


_STRING = {"type": "string"}
_INTEGER = {"type": "integer"}
_DATE_TIME = {"type": "string", "format": "date-time"}
_REFERENCE = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "description": "A hyperlink to the resource, or its id.",
}


class PackageWrite(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: Annotated[
        Title | None, _never_null({**_STRING, "minLength": 1, "maxLength": 100})
    ] = None
    slug: Annotated[
        Slug | None,
        _never_null(
            {**_STRING, "minLength": 1, "maxLength": 100, "pattern": SLUG_PATTERN}
        ),
    ] = None
    category: Annotated[Reference | None, _never_null(_REFERENCE)] = None
    grids: list[Reference] | None = Field(
        default=None, description="Hyperlinks or ids; replaces the package's grids."
    )
    repo_url: RepoUrlText | None = Field(default=None, description="null clears it.")
    pypi_url: PypiUrlText | None = Field(default=None, description="null clears it.")
    documentation_url: HttpUrlText | None = Field(
        default=None, description="null clears it."
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError("must not contain a NUL character")
        return value

    @field_validator(*_NOT_NULL, mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value


class PackageUpdate(PackageWrite):
    """A JSON merge patch (RFC 7396) of a package: absent keys stay as they are.

    The read-only keys below are accepted only with their current value.
    """

    id: Annotated[int | None, _never_null(_INTEGER)] = None
    created: Annotated[datetime | None, _never_null(_DATE_TIME)] = None
    modified: Annotated[datetime | None, _never_null(_DATE_TIME)] = None
    last_fetched: datetime | None = None
    last_updated: datetime | None = None
    repo_watchers: Annotated[int | None, _never_null(_INTEGER)] = None
    repo_forks: Annotated[int | None, _never_null(_INTEGER)] = None
    repo_description: Annotated[str | None, _never_null(_STRING)] = None
    pypi_version: Annotated[str | None, _never_null(_STRING)] = None
    commits_over_52: Annotated[
        list[int] | None, _never_null({"type": "array", "items": _INTEGER})
    ] = None
    participants: Annotated[
        list[str] | None, _never_null({"type": "array", "items": _STRING})
    ] = None


class PackageCreate(PackageWrite):
    title: Title
    slug: Slug
    category: Reference


class PackagePage(Page[PackageRead]):
    """One page of packages."""


class ScoreComponentRead(BaseModel):
    name: str = Field(description="stars, inactivity, python3 or floor.")
    inputs: dict[str, Any] = Field(description="What the points were worked out from.")
    points: int
    why: str


class ScoreCategoryRead(BaseModel):
    category: str = Field(description="Hyperlink to the package's category.")
    packages: int = Field(description="How many packages the category holds.")
    lower: int = Field(description="How many of them have a lower stored score.")
    percentile: float = Field(
        description="lower / (packages - 1) x 100, one decimal: 100 for the best "
        "in its category, 0 for the worst (100 when alone)."
    )


class ScoreRead(BaseModel):
    package: str = Field(description="Hyperlink to the package.")
    rule_version: int
    score: int = Field(
        description="The stored score lists and search rank by, computed after "
        "the last fetch or import."
    )
    total: int = Field(description="The components' sum, worked out now.")
    computed_at: datetime = Field(description="The moment `total` is worked out for.")
    components: list[ScoreComponentRead]
    in_category: ScoreCategoryRead


class EditTokenRead(BaseModel):
    id: int = Field(description="The token's id.")
    name: str = Field(description="The token's name when it made the edit.")


class FieldChangeRead(BaseModel):
    field: str = Field(
        description="title, slug, category, repo_url, pypi_url, documentation_url or grids."
    )
    old: Any = Field(
        description="The value before the edit (null when the package was added); category and grids as ids."
    )
    new: Any = Field(
        description="The value after the edit (null when the package was removed)."
    )


class PackageEditRead(BaseModel):
    """One edit of a package made over HTTP."""

    id: int = Field(description="The edit's id; later edits have larger ones.")
    package: Hyperlink = Field(description="Hyperlink to the package.")
    action: Literal["created", "edited", "deleted"]
    at: datetime = Field(description="When the edit was committed.")
    token: EditTokenRead = Field(description="The token that made the edit.")
    changes: list[FieldChangeRead] = Field(
        description="Each field the edit changed, with its value before and after."
    )

    @classmethod
    def build(cls, row: PackageEdit, links: Links, zone: tzinfo) -> "PackageEditRead":
        return cls(
            id=row.id,
            package=links.package(row.package_id),
            action=row.action,
            at=local_time(row.at, zone),
            token=EditTokenRead(id=row.token_id, name=row.token_name),
            changes=[FieldChangeRead(**change) for change in row.changes],
        )


class PackageEditPage(Page[PackageEditRead]):
    """One page of a package's edits, newest first."""
