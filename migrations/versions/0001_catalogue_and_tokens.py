"""Catalogue (categories, grids, packages) and API tokens.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_api_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
        # Ids are never reused: old links must not name a new row.
        sqlite_autoincrement=True,
    )
    op.create_table(
        "categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("title_plural", sa.String(length=100), nullable=False),
        sa.Column("show_pypi", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_categories")),
        sa.UniqueConstraint("slug", name=op.f("uq_categories_slug")),
        # Ids are never reused: old links must not name a new row.
        sqlite_autoincrement=True,
    )
    op.create_table(
        "grids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_locked", sa.Boolean(), nullable=False),
        sa.Column("header", sa.Boolean(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grids")),
        sa.UniqueConstraint("slug", name=op.f("uq_grids_slug")),
        # Ids are never reused: old links must not name a new row.
        sqlite_autoincrement=True,
    )
    op.create_table(
        "packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("repo_url", sa.String(length=500), nullable=False),
        sa.Column("repo_key", sa.String(length=500), nullable=True),
        sa.Column("pypi_url", sa.String(length=500), nullable=False),
        sa.Column("documentation_url", sa.String(length=500), nullable=False),
        sa.Column("repo_watchers", sa.Integer(), nullable=False),
        sa.Column("repo_forks", sa.Integer(), nullable=False),
        sa.Column("repo_description", sa.Text(), nullable=False),
        sa.Column("repo_archived", sa.Boolean(), nullable=False),
        sa.Column("pypi_version", sa.String(length=100), nullable=False),
        sa.Column("participants", JSON, nullable=False),
        sa.Column("commits_over_52", JSON, nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_fetched", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_exception", sa.Text(), nullable=True),
        sa.Column("last_exception_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_exception_count", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_packages_category_id_categories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packages")),
        sa.UniqueConstraint("repo_key", name=op.f("uq_packages_repo_key")),
        sa.UniqueConstraint("slug", name=op.f("uq_packages_slug")),
        # Ids are never reused: old links must not name a new row.
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_packages_category_id"), ["category_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_packages_last_fetched"), ["last_fetched"], unique=False
        )

    op.create_table(
        "grid_packages",
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_id"],
            ["grids.id"],
            name=op.f("fk_grid_packages_grid_id_grids"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["packages.id"],
            name=op.f("fk_grid_packages_package_id_packages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("grid_id", "package_id", name=op.f("pk_grid_packages")),
    )
    with op.batch_alter_table("grid_packages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_grid_packages_package_id"), ["package_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("grid_packages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grid_packages_package_id"))

    op.drop_table("grid_packages")
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_packages_last_fetched"))
        batch_op.drop_index(batch_op.f("ix_packages_category_id"))

    op.drop_table("packages")
    op.drop_table("grids")
    op.drop_table("categories")
    op.drop_table("api_tokens")
