"""Relevance on the real catalogue: 17,694 PyPI Django projects.

The catalogue is loaded once for the module (the per-test cleaning is
suspended here and done at the end). Each query is one a person would type,
with the package that must come in the first three (or first); typos and
short prefixes are among them. The catalogue has no stars, so every score
is equal and only the text decides.
"""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db.base import Base
from tests.search.catalogue import load_catalogue

# (query, the package that must be among the first three, must it be first)
QUERIES = [
    ("debug toolbar", "django-debug-toolbar", True),
    ("crispy", "django-crispy-forms", False),
    ("crisp", "django-crispy-forms", False),
    ("allauth", "django-allauth", True),
    ("allau", "django-allauth", False),
    ("filter", "django-filter", False),
    ("cors", "django-cors-headers", False),
    ("celery beat", "django-celery-beat", True),
    ("import export", "django-import-export", True),
    ("rest framework", "djangorestframework", False),
    ("djangorestframework", "djangorestframework", True),
    ("guardian", "django-guardian", True),
    ("taggit", "django-taggit", True),
    ("mptt", "django-mptt", True),
    ("redis", "django-redis", True),
    ("simple history", "django-simple-history", True),
    ("storages", "django-storages", True),
    ("environ", "django-environ", True),
    ("phone number", "django-phonenumber-field", False),
    ("countries", "django-countries", True),
    ("htmx", "django-htmx", True),
    ("two factor auth", "django-two-factor-auth", True),
    ("oauth toolkit", "django-oauth-toolkit", True),
    ("ckeditor", "django-ckeditor", True),
    ("health check", "django-health-check", True),
    ("webpack", "django-webpack-loader", False),
    ("polymorph", "django-polymorphic", False),
    ("Django-Debug-Toolbar", "django-debug-toolbar", True),
    # typos
    ("debug tolbar", "django-debug-toolbar", True),
    ("allauht", "django-allauth", False),
    ("cors headres", "django-cors-headers", False),
    ("guardain", "django-guardian", False),
    ("celry beat", "django-celery-beat", False),
    ("crispy froms", "django-crispy-forms", False),
]


@pytest.fixture
def clean_database() -> None:
    """The module keeps its catalogue between tests (see `catalogue`)."""


@pytest.fixture(scope="module")
async def catalogue(engine: AsyncEngine) -> AsyncIterator[int]:
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    loaded = await load_catalogue(sessionmaker)
    yield loaded
    async with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            await connection.execute(delete(table))
        if connection.dialect.name == "sqlite":
            await connection.execute(text("DELETE FROM sqlite_sequence"))


async def test_the_whole_catalogue_is_loaded(
    catalogue: int, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as session:
        count = await session.scalar(text("SELECT count(*) FROM packages"))
    assert (catalogue, count) == (17_694, 17_694)


@pytest.mark.parametrize(("query", "wanted", "first"), QUERIES)
async def test_the_package_meant_comes_in_the_first_three(
    catalogue: int, client: httpx.AsyncClient, query: str, wanted: str, first: bool
) -> None:
    response = await client.get("/api/v4/search/", params={"q": query, "limit": 3})

    slugs = [item["slug"] for item in response.json()]
    assert response.status_code == 200
    if first:
        assert slugs[0] == wanted, slugs
    else:
        assert wanted in slugs, slugs
