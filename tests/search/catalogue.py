"""The real PyPI Django catalogue (tests/data/catalog) loaded as packages.

Used by the relevance tests and by bench/search.py. Rows go in with one
executemany per few thousand, so the database's own search index (triggers
on SQLite, GIN indexes on PostgreSQL) is filled as for any other write.
"""

import csv
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import Category, Package

TSV = (
    Path(__file__).resolve().parents[1]
    / "data"
    / "catalog"
    / "pypi-django-packages.tsv"
)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
CATEGORY_ID = 1


def rows() -> list[dict[str, object]]:
    """One package row per catalogue line, ids from 1 in file order."""
    with TSV.open(newline="", encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    packages = []
    for number, line in enumerate(lines, start=1):
        year, month = (int(part) for part in line["month"].split("-"))
        packages.append(
            {
                "id": number,
                "title": line["name"],
                "slug": line["name"],
                "category_id": CATEGORY_ID,
                "repo_description": line["summary"] or "",
                "pypi_url": line["name"],
                "pypi_version": line["version"],
                "pypi_released_at": datetime(year, month, 1, tzinfo=UTC),
                "participants": [],
                "commits_over_52": [],
                "created": EPOCH,
                "modified": EPOCH,
            }
        )
    return packages


async def load_catalogue(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Insert the whole catalogue under one "App" category; how many packages."""
    packages = rows()
    async with sessionmaker() as session:
        await session.execute(
            insert(Category),
            [
                {
                    "id": CATEGORY_ID,
                    "title": "App",
                    "slug": "apps",
                    "title_plural": "Apps",
                    "created": EPOCH,
                    "modified": EPOCH,
                }
            ],
        )
        for start in range(0, len(packages), 2000):
            await session.execute(insert(Package), packages[start : start + 2000])
        await session.commit()
    async with sessionmaker() as session:
        # As autovacuum would soon after a bulk load: the planner needs the
        # statistics of the search indexes' expressions to use them.
        await session.execute(text("ANALYZE packages"))
        await session.commit()
    return len(packages)
