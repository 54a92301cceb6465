"""Categories, grids and packages: the catalogue in Django Packages' shape."""

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import NEVER_REUSED_IDS, Base, JSONValue, UTCDateTime, utcnow


class Timestamped:
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Versioned(Timestamped):
    # Kept by database triggers (migration 0004) on every change of the row,
    # whoever writes it: what ETag and Last-Modified are made of. `modified`
    # is the catalogue's own field and moves only on edits.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    changed_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, nullable=True, index=True
    )


class Category(Versioned, Base):
    __tablename__ = "categories"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    title_plural: Mapped[str] = mapped_column(String(100), default="")
    show_pypi: Mapped[bool] = mapped_column(Boolean, default=True)


# When a row of each table was last deleted (kept by triggers), so that a
# list's Last-Modified moves when one of its rows goes.
catalogue_deletions = Table(
    "catalogue_deletions",
    Base.metadata,
    Column("table_name", String(50), primary_key=True),
    Column("deleted_at", UTCDateTime),
)


grid_packages = Table(
    "grid_packages",
    Base.metadata,
    Column("grid_id", ForeignKey("grids.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "package_id",
        ForeignKey("packages.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class Grid(Versioned, Base):
    __tablename__ = "grids"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    is_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    header: Mapped[bool] = mapped_column(Boolean, default=False)

    packages: Mapped[list["Package"]] = relationship(
        secondary=grid_packages,
        back_populates="grids",
        lazy="raise",
        order_by="Package.id",
    )


class Package(Versioned, Base):
    __tablename__ = "packages"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    category_id: Mapped[int] = mapped_column(
        ForeignKey("categories.id", ondelete="RESTRICT"), index=True
    )
    repo_url: Mapped[str] = mapped_column(String(500), default="")
    # The repository's identity whatever way its URL was written (case,
    # `.git`, sub-paths, SSH form): two packages may not share one.
    repo_key: Mapped[str | None] = mapped_column(String(500), unique=True)
    pypi_url: Mapped[str] = mapped_column(String(500), default="")
    documentation_url: Mapped[str] = mapped_column(String(500), default="")

    repo_watchers: Mapped[int] = mapped_column(Integer, default=0)
    repo_forks: Mapped[int] = mapped_column(Integer, default=0)
    repo_description: Mapped[str] = mapped_column(Text, default="")
    repo_archived: Mapped[bool] = mapped_column(Boolean, default=False)
    pypi_version: Mapped[str] = mapped_column(String(100), default="")
    participants: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    commits_over_52: Mapped[list[int]] = mapped_column(JSONValue, default=list)
    last_updated: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_fetched: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # From PyPI, for the score: when pypi_version was released, and whether
    # the project supports Python 3 (null: PyPI was not read or does not say).
    pypi_released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    python3: Mapped[bool | None] = mapped_column(Boolean)
    # Recomputed from the stats after every fetch; ranks lists and search.
    score: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", index=True
    )

    last_exception: Mapped[str | None] = mapped_column(Text)
    last_exception_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_exception_count: Mapped[int] = mapped_column(Integer, default=0)

    category: Mapped[Category] = relationship(lazy="raise")
    grids: Mapped[list[Grid]] = relationship(
        secondary=grid_packages,
        back_populates="packages",
        lazy="raise",
        order_by=Grid.id,
    )

    def __repr__(self) -> str:
        return f"Package(id={self.id!r}, slug={self.slug!r})"


FEATURE_TITLE_MAX = 100
CELL_TEXT_MAX = 300
# The highest order a feature may have: far below the column's 32-bit limit,
# so orders computed from stored ones (last + 1) can never overflow it.
FEATURE_ORDER_MAX = 1_000_000


class GridFeature(Timestamped, Base):
    """A row of a grid's comparison matrix: something the packages are compared on."""

    __tablename__ = "grid_features"
    __table_args__ = (
        UniqueConstraint("grid_id", "title", name="uq_grid_features_grid_id_title"),
        # What a cell's composite foreign key points at: a feature of that grid.
        UniqueConstraint("grid_id", "id", name="uq_grid_features_grid_id_id"),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(FEATURE_TITLE_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    # Rows are shown by `order`, then id; equal orders are allowed.
    order: Mapped[int] = mapped_column(Integer, default=0)


class GridCell(Base):
    """One feature of one package in a grid: a short text.

    Its composite foreign keys make a cell exist only for a feature of the
    same grid and a package in that grid: taking a package out of the grid,
    or deleting the feature, the package or the grid, removes its cells.
    """

    __tablename__ = "grid_cells"
    __table_args__ = (
        ForeignKeyConstraint(
            ["grid_id", "feature_id"],
            ["grid_features.grid_id", "grid_features.id"],
            name="fk_grid_cells_feature_grid_features",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["grid_id", "package_id"],
            ["grid_packages.grid_id", "grid_packages.package_id"],
            name="fk_grid_cells_package_grid_packages",
            ondelete="CASCADE",
        ),
        # A grid's cells in one read, and the cascade from grid_packages.
        Index("ix_grid_cells_grid_id_package_id", "grid_id", "package_id"),
    )

    feature_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    package_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grid_id: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(CELL_TEXT_MAX))
