"""Package score: a stored number, recomputed after every fetch.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "packages",
        sa.Column("score", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_packages_score", "packages", ["score"])


def downgrade() -> None:
    op.drop_index("ix_packages_score", table_name="packages")
    op.drop_column("packages", "score")
