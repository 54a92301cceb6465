"""Row versions: what HTTP validators (ETag, Last-Modified) are made of.

Every category, grid and package gets a `version` that grows on each
change of its row, and a `changed_at` set to the moment of that change.
Triggers keep both, so every writer counts (an edit, a refresh, an import,
a partial fetch, a replica elsewhere) without any of them taking part. A
change of a grid's members counts as a change of the grid and of the
package. `catalogue_deletions` keeps, per table, when a row of it was last
deleted, so a list's Last-Modified moves on a removal too.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("categories", "grids", "packages")

# SQLite's clock to the microsecond, in the form SQLAlchemy stores there.
_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"


def _sqlite_upgrade() -> None:
    for table in TABLES:
        # WHEN stops the trigger's own UPDATE from counting twice.
        op.execute(f"""
            CREATE TRIGGER {table}_versioned AFTER UPDATE ON {table}
            FOR EACH ROW WHEN NEW.version = OLD.version
            BEGIN
                UPDATE {table} SET version = OLD.version + 1,
                    changed_at = {_SQLITE_NOW}
                WHERE id = NEW.id;
            END
        """)
        op.execute(f"""
            CREATE TRIGGER {table}_deleted AFTER DELETE ON {table}
            FOR EACH ROW
            BEGIN
                UPDATE catalogue_deletions SET deleted_at = {_SQLITE_NOW}
                WHERE table_name = '{table}';
            END
        """)
    for name, event, row in (
        ("grid_packages_inserted", "INSERT", "NEW"),
        ("grid_packages_deleted", "DELETE", "OLD"),
    ):
        op.execute(f"""
            CREATE TRIGGER {name} AFTER {event} ON grid_packages
            FOR EACH ROW
            BEGIN
                UPDATE packages SET version = version + 1, changed_at = {_SQLITE_NOW}
                WHERE id = {row}.package_id;
                UPDATE grids SET version = version + 1, changed_at = {_SQLITE_NOW}
                WHERE id = {row}.grid_id;
            END
        """)


def _postgresql_upgrade() -> None:
    # clock_timestamp(), not now(): the moment of the change, not of the
    # start of its transaction.
    op.execute("""
        CREATE FUNCTION bump_row_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.version := OLD.version + 1;
            NEW.changed_at := clock_timestamp();
            RETURN NEW;
        END $$
    """)
    op.execute("""
        CREATE FUNCTION note_deletion() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE catalogue_deletions SET deleted_at = clock_timestamp()
            WHERE table_name = TG_TABLE_NAME;
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE FUNCTION bump_grid_members() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            member grid_packages%ROWTYPE;
        BEGIN
            IF TG_OP = 'DELETE' THEN member := OLD; ELSE member := NEW; END IF;
            UPDATE packages SET version = version + 1 WHERE id = member.package_id;
            UPDATE grids SET version = version + 1 WHERE id = member.grid_id;
            RETURN NULL;
        END $$
    """)
    for table in TABLES:
        op.execute(f"""
            CREATE TRIGGER {table}_versioned BEFORE UPDATE ON {table}
            FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW)
            EXECUTE FUNCTION bump_row_version()
        """)
        op.execute(f"""
            CREATE TRIGGER {table}_deleted AFTER DELETE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION note_deletion()
        """)
    op.execute("""
        CREATE TRIGGER grid_packages_changed AFTER INSERT OR DELETE ON grid_packages
        FOR EACH ROW EXECUTE FUNCTION bump_grid_members()
    """)


def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table,
            sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        )
        # Nullable: SQLite cannot add a column whose default is the clock.
        op.add_column(table, sa.Column("changed_at", sa.DateTime(timezone=True)))
        op.execute(sa.text(f"UPDATE {table} SET changed_at = CURRENT_TIMESTAMP"))
        op.create_index(f"ix_{table}_changed_at", table, ["changed_at"])
    deletions = op.create_table(
        "catalogue_deletions",
        sa.Column("table_name", sa.String(length=50), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("table_name", name=op.f("pk_catalogue_deletions")),
    )
    op.bulk_insert(deletions, [{"table_name": table} for table in TABLES])

    if op.get_bind().dialect.name == "postgresql":
        _postgresql_upgrade()
    else:
        _sqlite_upgrade()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER grid_packages_changed ON grid_packages")
        for table in TABLES:
            op.execute(f"DROP TRIGGER {table}_versioned ON {table}")
            op.execute(f"DROP TRIGGER {table}_deleted ON {table}")
        for function in ("bump_row_version", "note_deletion", "bump_grid_members"):
            op.execute(f"DROP FUNCTION {function}()")
    else:
        op.execute("DROP TRIGGER grid_packages_inserted")
        op.execute("DROP TRIGGER grid_packages_deleted")
        for table in TABLES:
            op.execute(f"DROP TRIGGER {table}_versioned")
            op.execute(f"DROP TRIGGER {table}_deleted")
    op.drop_table("catalogue_deletions")
    for table in TABLES:
        op.drop_index(f"ix_{table}_changed_at", table_name=table)
        op.drop_column(table, "changed_at")
        op.drop_column(table, "version")
