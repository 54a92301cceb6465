"""Change signals: every committed change to the catalogue can be heard.

API processes keep answers in memory and must drop them when the catalogue
changes, whichever process changed it (see app/db/changes.py). Triggers on
every table an answer is made of make that change heard:

- PostgreSQL: statement triggers notify channel `catalogue_changed`; the
  notification reaches every listener when its transaction commits. A
  statement that touched no row (an idle refresher looking for work) says
  nothing.
- SQLite: row triggers add one to the single row of `catalogue_changes`,
  which each process reads now and then.

Token and refresh bookkeeping (leases, fetch states) are left out: the
answers made of them are never kept (`Cache-Control: no-cache`), and a
refresher takes leases all the time.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "categories",
    "grids",
    "packages",
    "grid_packages",
    "grid_features",
    "grid_cells",
    "catalogue_deletions",
)
# The transition table each event exposes to a statement trigger.
_EVENTS = {"INSERT": "NEW", "UPDATE": "NEW", "DELETE": "OLD"}


def _postgresql_upgrade() -> None:
    op.execute("""
        CREATE FUNCTION signal_catalogue_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'TRUNCATE' OR EXISTS (SELECT 1 FROM touched) THEN
                PERFORM pg_notify('catalogue_changed', TG_TABLE_NAME);
            END IF;
            RETURN NULL;
        END $$
    """)
    for table in TABLES:
        # A trigger with a transition table takes one event only.
        for event, rows in _EVENTS.items():
            op.execute(f"""
                CREATE TRIGGER {table}_{event.lower()}_signal AFTER {event} ON {table}
                REFERENCING {rows} TABLE AS touched
                FOR EACH STATEMENT EXECUTE FUNCTION signal_catalogue_change()
            """)
        op.execute(f"""
            CREATE TRIGGER {table}_truncate_signal AFTER TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION signal_catalogue_change()
        """)


def _sqlite_upgrade() -> None:
    changes = op.create_table(
        "catalogue_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("counter", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_changes")),
    )
    op.bulk_insert(changes, [{"id": 1, "counter": 0}])
    for table in TABLES:
        for event in _EVENTS:
            op.execute(f"""
                CREATE TRIGGER {table}_{event.lower()}_signal AFTER {event} ON {table}
                FOR EACH ROW
                BEGIN
                    UPDATE catalogue_changes SET counter = counter + 1;
                END
            """)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_upgrade()
    else:
        _sqlite_upgrade()


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    events = [*_EVENTS, "TRUNCATE"] if postgresql else list(_EVENTS)
    for table in TABLES:
        for event in events:
            on = f" ON {table}" if postgresql else ""
            op.execute(f"DROP TRIGGER {table}_{event.lower()}_signal{on}")
    if postgresql:
        op.execute("DROP FUNCTION signal_catalogue_change()")
    else:
        op.drop_table("catalogue_changes")
