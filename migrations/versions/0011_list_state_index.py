"""A covering index for the package list's validators.

Every list of packages starts with one aggregate over the whole table
(count, sum of versions, highest id, latest change: `app.db.queries.
table_state`), which makes its ETag and its count. Read from the table
itself that is a scan of every row, stats and all (megabytes at a few
thousand packages, and growing with them); read from this index it is a
scan of three narrow columns.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_packages_list_state"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            NAME, "packages", ["id"], postgresql_include=["version", "changed_at"]
        )
    else:
        # SQLite has no INCLUDE; the columns in the key cover the query too.
        op.create_index(NAME, "packages", ["id", "version", "changed_at"])


def downgrade() -> None:
    op.drop_index(NAME, table_name="packages")
