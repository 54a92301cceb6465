"""The edit log: one row per edit of a package made over HTTP.

Rows name the token by id and by its name at the time, and the package by
id, without foreign keys: the log outlives both. Read per package, newest
first, through the (package_id, id) index.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "package_edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("token_name", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("changes", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_package_edits")),
        # Ids are never reused: a log's order is its ids' order.
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_package_edits_package_id_id", "package_edits", ["package_id", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_package_edits_package_id_id", table_name="package_edits")
    op.drop_table("package_edits")
