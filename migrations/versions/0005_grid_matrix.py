"""Grid matrices: features (rows) and cells (feature x package).

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "grid_features",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("order", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_id"],
            ["grids.id"],
            name=op.f("fk_grid_features_grid_id_grids"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_features")),
        sa.UniqueConstraint("grid_id", "id", name="uq_grid_features_grid_id_id"),
        sa.UniqueConstraint("grid_id", "title", name="uq_grid_features_grid_id_title"),
        # Ids are never reused: old links must not name a new row.
        sqlite_autoincrement=True,
    )
    op.create_table(
        "grid_cells",
        sa.Column("feature_id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_id", "feature_id"],
            ["grid_features.grid_id", "grid_features.id"],
            name="fk_grid_cells_feature_grid_features",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["grid_id", "package_id"],
            ["grid_packages.grid_id", "grid_packages.package_id"],
            name="fk_grid_cells_package_grid_packages",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("feature_id", "package_id", name=op.f("pk_grid_cells")),
    )
    op.create_index(
        "ix_grid_cells_grid_id_package_id", "grid_cells", ["grid_id", "package_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_grid_cells_grid_id_package_id", table_name="grid_cells")
    op.drop_table("grid_cells")
    op.drop_table("grid_features")
