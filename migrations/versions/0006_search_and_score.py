"""Search index, and what the score needs from PyPI.

PyPI's release date of `pypi_version` and whether the project supports
Python 3 (from its classifiers and requires_python) are stored for the score.

The search index is the database's own, kept up to date by the database
itself whatever writes a package (the API, an import, a refresh):

- SQLite: an FTS5 table `package_search` (rowid = package id) with the
  searched fields (its `name` column is the title's letters run together),
  and an FTS5 table of the titles' trigrams, `package_title_trigrams`, for
  finding what a typo meant; triggers on `packages` and `categories` fill
  both.
- PostgreSQL: stored generated full-text columns of the searched fields'
  words with GIN indexes, the pg_trgm extension with a trigram GIN index on
  the title for typos, and a btree on the title's name; the expressions
  must match `app.search.repository` exactly.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A title's letters run together ("django-debug-toolbar" is
# "djangodebugtoolbar"): what a query's words run together are compared with.
# The search queries write it the same way (app.search.repository.NAME_SQL).
NAME_SQL = "replace(replace(replace(replace(lower({title}), '-', ''), '_', ''), ' ', ''), '.', '')"

# PostgreSQL: each searched field's words as a stored full-text vector
# (`simple`: lowercased, not stemmed) with a GIN index, the lowercased title's
# trigrams for typos, and a btree on the title's name; app.search.repository
# writes the same expressions.
_WORDS = "to_tsvector('simple', translate({column}, '.@/_', '    '))"
PG_WORD_COLUMNS = {
    "search_title": "title",
    "search_slug": "slug",
    "search_description": "repo_description",
    "search_participants": "participants::text",
}
# fastupdate off: rows go straight into the GIN indexes rather than a
# pending list that every search would read through until the next vacuum;
# the catalogue is read far more often than written.
_GIN = "WITH (fastupdate = off)"
PG_INDEXES = {
    **{f"ix_packages_{name}": f"USING gin ({name}) {_GIN}" for name in PG_WORD_COLUMNS},
    "ix_packages_trigrams_title": (
        f"USING gin (translate(lower(title), '_', ' ') gin_trgm_ops) {_GIN}"
    ),
    "ix_packages_name": f'USING btree (({NAME_SQL.format(title="title")}) COLLATE "C")',
}

_SQLITE_ROW = f"""
    SELECT NEW.id, NEW.title, NEW.slug, NEW.repo_description,
        (SELECT title FROM categories WHERE id = NEW.category_id),
        (SELECT group_concat(value, ' ') FROM json_each(NEW.participants)),
        {NAME_SQL.format(title="NEW.title")}
"""
_SQLITE_COLUMNS = "rowid, title, slug, description, category, participants, name"

SQLITE_UP = [
    """
    CREATE VIRTUAL TABLE package_search USING fts5(
        title, slug, description, category, participants, name,
        tokenize = "unicode61 remove_diacritics 2"
    )
    """,
    # The titles' trigrams, to find the candidates of a typo's correction.
    """
    CREATE VIRTUAL TABLE package_title_trigrams USING fts5(
        title, tokenize = "trigram"
    )
    """,
    f"""
    CREATE TRIGGER packages_search_insert AFTER INSERT ON packages BEGIN
        INSERT INTO package_search ({_SQLITE_COLUMNS}) {_SQLITE_ROW};
        INSERT INTO package_title_trigrams (rowid, title) VALUES (NEW.id, NEW.title);
    END
    """,
    f"""
    CREATE TRIGGER packages_search_update
    AFTER UPDATE OF title, slug, repo_description, category_id, participants
    ON packages BEGIN
        DELETE FROM package_search WHERE rowid = OLD.id;
        INSERT INTO package_search ({_SQLITE_COLUMNS}) {_SQLITE_ROW};
        DELETE FROM package_title_trigrams WHERE rowid = OLD.id;
        INSERT INTO package_title_trigrams (rowid, title) VALUES (NEW.id, NEW.title);
    END
    """,
    """
    CREATE TRIGGER packages_search_delete AFTER DELETE ON packages BEGIN
        DELETE FROM package_search WHERE rowid = OLD.id;
        DELETE FROM package_title_trigrams WHERE rowid = OLD.id;
    END
    """,
    """
    CREATE TRIGGER categories_search_update AFTER UPDATE OF title ON categories
    BEGIN
        UPDATE package_search SET category = NEW.title
        WHERE rowid IN (SELECT id FROM packages WHERE category_id = NEW.id);
    END
    """,
    f"""
    INSERT INTO package_search ({_SQLITE_COLUMNS})
    SELECT p.id, p.title, p.slug, p.repo_description, c.title,
        (SELECT group_concat(value, ' ') FROM json_each(p.participants)),
        {NAME_SQL.format(title="p.title")}
    FROM packages p JOIN categories c ON c.id = p.category_id
    """,
    "INSERT INTO package_title_trigrams (rowid, title) SELECT id, title FROM packages",
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS categories_search_update",
    "DROP TRIGGER IF EXISTS packages_search_delete",
    "DROP TRIGGER IF EXISTS packages_search_update",
    "DROP TRIGGER IF EXISTS packages_search_insert",
    "DROP TABLE IF EXISTS package_title_trigrams",
    "DROP TABLE IF EXISTS package_search",
]


def upgrade() -> None:
    op.add_column(
        "packages",
        sa.Column("pypi_released_at", sa.DateTime(timezone=True), nullable=True),
    )
    # Null: not known (never read from PyPI, or PyPI does not say).
    op.add_column("packages", sa.Column("python3", sa.Boolean(), nullable=True))

    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for name, column in PG_WORD_COLUMNS.items():
            words = _WORDS.format(column=column)
            op.execute(
                f"ALTER TABLE packages ADD COLUMN {name} tsvector "
                f"GENERATED ALWAYS AS ({words}) STORED"
            )
        for name, definition in PG_INDEXES.items():
            op.execute(f"CREATE INDEX {name} ON packages {definition}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
    else:
        for name in PG_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        for name in PG_WORD_COLUMNS:
            op.execute(f"ALTER TABLE packages DROP COLUMN IF EXISTS {name}")
    # A plain DROP COLUMN (SQLite has it since 3.35), not a batch table
    # copy: the row-version triggers of 0004 name `packages`, and SQLite
    # refuses to rename a copy into place under them.
    op.drop_column("packages", "python3")
    op.drop_column("packages", "pypi_released_at")
