"""What the score needs from PyPI, and the score stored after every fetch."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.fetcher.pypi import release_time, supports_python3
from app.fetcher.refresh import refresh_packages
from tests.factories import make_package
from tests.fetcher.support import json_response, replay, stored

pytestmark = pytest.mark.usefixtures("category")

PY3 = "Programming Language :: Python :: 3"
PY2 = "Programming Language :: Python :: 2.7"


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"classifiers": [PY3, "Framework :: Django"]}, True),
        ({"classifiers": ["Programming Language :: Python :: 3.12"]}, True),
        ({"classifiers": [PY2], "requires_python": ">=3.8"}, True),
        ({"classifiers": [], "requires_python": ">=3.8"}, True),
        ({"classifiers": [], "requires_python": ">=2.7, !=3.0.*"}, True),
        ({"classifiers": [PY2], "requires_python": None}, False),
        ({"classifiers": [], "requires_python": "<3"}, False),
        ({"classifiers": [], "requires_python": "==2.7.*"}, False),
        ({"classifiers": ["Framework :: Django"], "requires_python": ""}, None),
        ({"classifiers": None, "requires_python": "not a specifier"}, None),
        ({}, None),
    ],
)
def test_python_3_support_comes_from_classifiers_and_requires_python(
    info: dict[str, Any], expected: bool | None
) -> None:
    assert supports_python3(info) is expected


def test_a_release_is_dated_by_its_first_live_upload() -> None:
    files = [
        {"upload_time_iso_8601": "2024-05-02T10:00:00.5Z", "yanked": False},
        {"upload_time_iso_8601": "2024-05-01T09:00:00Z", "yanked": True},
        {"upload_time_iso_8601": "2024-05-01T23:30:00+00:00", "yanked": False},
        {"upload_time": "not a time"},
        "garbage",
    ]
    assert release_time(files) == datetime(2024, 5, 1, 23, 30, tzinfo=UTC)
    assert release_time([]) is None
    assert release_time(None) is None


async def test_a_fetch_stores_the_release_date_python_3_support_and_the_score(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker,
        id=1,
        pypi_url="django-crispy-forms",
        repo_watchers=1000,
        last_updated=datetime(2015, 1, 1, tzinfo=UTC),
    )
    upstream.expect_request("/pypi/django-crispy-forms/json").respond_with_response(
        replay(upstream, "pypi/pypi-django-crispy-forms.json")
    )

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.pypi_released_at == datetime(
        2022, 1, 25, 8, 8, 34, 739304, tzinfo=UTC
    )
    assert package.python3 is True
    # Years without a commit or a release: the floor.
    assert package.score == -500


async def test_a_recent_release_keeps_a_quiet_repository_scored_by_its_stars(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    released = datetime.now(UTC) - timedelta(days=10)
    await make_package(
        sessionmaker,
        id=1,
        pypi_url="quiet-pkg",
        repo_watchers=700,
        last_updated=datetime(2015, 1, 1, tzinfo=UTC),
    )
    body = {
        "info": {
            "name": "quiet-pkg",
            "version": "2.0",
            "classifiers": [PY2],
            "requires_python": None,
        },
        "urls": [{"upload_time_iso_8601": released.isoformat(), "yanked": False}],
        "releases": {},
    }
    upstream.expect_request("/pypi/quiet-pkg/json").respond_with_response(
        json_response(body)
    )

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (package.pypi_version, package.pypi_released_at, package.python3) == (
        "2.0",
        released,
        False,
    )
    # 700 stars, no inactivity thanks to the release, less 30% for Python 2 only.
    assert package.score == 490
