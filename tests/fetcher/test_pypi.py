"""PyPI: project names in stored URLs, version choice, documentation links."""

from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.fetcher.pypi import documentation_url, latest_version
from app.fetcher.refresh import refresh_packages
from app.packages.pypi_url import pypi_name
from tests.factories import make_package
from tests.fetcher.support import hits, json_response, replay, stored

pytestmark = pytest.mark.usefixtures("category")


def _files(version: str, *, yanked: bool = False) -> list[dict[str, Any]]:
    return [
        {
            "filename": f"example_pkg-{version}-py3-none-any.whl",
            "packagetype": "bdist_wheel",
            "upload_time_iso_8601": "2024-05-01T00:00:00Z",
            "yanked": yanked,
            "yanked_reason": "broken" if yanked else None,
        }
    ]


def _info(**values: Any) -> dict[str, Any]:
    info = {
        "name": "example-pkg",
        "version": None,
        "yanked": False,
        "yanked_reason": None,
        "project_urls": None,
        "docs_url": None,
        "home_page": None,
        "summary": "placeholder",
        "requires_python": ">=3.9",
    }
    return {**info, **values}


# Case 012, project A: lexical order would pick 0.8.0a9, and a snapshot key
# is not a version at all.
RELEASES_A = {
    version: _files(version)
    for version in (
        "0.3.0",
        "0.4.0",
        "0.7.0",
        "0.7.0a1",
        "0.8.0a1",
        "0.8.0a10",
        "0.8.0a2",
        "0.8.0a9",
        "2013-01-07-snapshot",
    )
}
# Case 012, project B: string order would say 0.9.0 > 0.10.0.
RELEASES_B = {version: _files(version) for version in ("0.9.0", "0.10.0", "0.10.1rc1")}


@pytest.mark.parametrize(
    ("pypi_url", "name"),
    [
        ("http://pypi.python.org/pypi/django-crispy-forms", "django-crispy-forms"),
        ("https://pypi.python.org/pypi/django-crispy-forms/", "django-crispy-forms"),
        ("https://pypi.org/project/django_minify_html/", "django_minify_html"),
        ("https://www.pypi.org/project/Django/4.0.2/", "Django"),
        ("  wagtail ", "wagtail"),
        ("zope.interface", "zope.interface"),
        ("", None),
        ("https://example.org/pypi/django", None),
        ("https://pypi.org/", None),
        ("https://pypi.org/search/?q=django", None),
        ("ftp://pypi.org/project/django/", None),
        ("not a name", None),
    ],
)
def test_pypi_name_reads_every_stored_form(pypi_url: str, name: str | None) -> None:
    assert pypi_name(pypi_url) == name


def test_latest_version_orders_by_pep_440_and_skips_prereleases() -> None:
    assert latest_version(RELEASES_A) == "0.7.0"
    assert latest_version(RELEASES_B) == "0.10.0"


def test_latest_version_takes_a_prerelease_only_when_all_are() -> None:
    releases = {v: _files(v) for v in ("0.8.0a9", "0.8.0a10", "0.8.0a2")}

    assert latest_version(releases) == "0.8.0a10"


def test_latest_version_skips_releases_without_live_files() -> None:
    releases = {
        "1.0.0": _files("1.0.0"),
        "1.1.0": _files("1.1.0", yanked=True),
        "1.2.0": [],
        "1.3.0": None,
    }

    assert latest_version(releases) == "1.0.0"
    assert latest_version({"1.1.0": _files("1.1.0", yanked=True)}) is None
    assert latest_version({}) is None


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"project_urls": None, "docs_url": None}, None),
        ({}, None),
        ({"project_urls": {}, "docs_url": "https://pythonhosted.org/x/"}, "https://pythonhosted.org/x/"),
        ({"project_urls": {"docs": "https://x.readthedocs.io/"}}, "https://x.readthedocs.io/"),
        ({"project_urls": {"Documentation": "https://docs.x.org/"}}, "https://docs.x.org/"),
        ({"project_urls": {"Docs: RTD": "https://x.rtfd.io/"}}, "https://x.rtfd.io/"),
        (
            {
                "project_urls": {"Homepage": "https://x.org", "DOCUMENTATION": "https://d.x.org"},
                "docs_url": "https://pythonhosted.org/x/",
            },
            "https://d.x.org",
        ),
        ({"project_urls": {"Documentation": "ftp://x.org/docs"}}, None),
        ({"project_urls": {"Homepage": "https://x.org"}, "docs_url": "javascript:x"}, None),
        ({"project_urls": {"Source docs": "https://x.org"}}, None),
    ],
)  # fmt: skip
def test_documentation_url_prefers_a_docs_key_and_only_takes_web_links(
    info: dict[str, Any], expected: str | None
) -> None:
    assert documentation_url(info) == expected


async def test_legacy_pypi_url_forms_are_all_fetched(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    forms = {
        1: "http://pypi.python.org/pypi/django-crispy-forms",
        2: "https://pypi.python.org/pypi/django-minify-html/",
        3: "https://pypi.org/project/django/",
        4: "wagtail",
    }
    for package_id, pypi_url in forms.items():
        await make_package(sessionmaker, id=package_id, pypi_url=pypi_url)
    for name in ("django-crispy-forms", "django-minify-html", "django"):
        upstream.expect_request(f"/pypi/{name}/json").respond_with_response(
            replay(upstream, f"pypi/pypi-{name}.json")
        )
    upstream.expect_request("/pypi/wagtail/json").respond_with_response(
        json_response({"info": _info(name="wagtail", version="2.16.1"), "releases": {}})
    )

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    assert (summary.updated, summary.unchanged, summary.failed) == (4, 0, 0)
    versions = [(await stored(sessionmaker, i)).pypi_version for i in forms]
    assert versions == ["1.14.0", "1.0.0", "4.0.2", "2.16.1"]
    docs = [(await stored(sessionmaker, i)).documentation_url for i in forms]
    assert docs == ["", "", "https://docs.djangoproject.com/", ""]
    assert [len(hits(upstream, f"/pypi/{n}/json")) for n in ("django", "wagtail")] == [
        1,
        1,
    ]


@pytest.mark.parametrize(
    ("name", "version", "releases", "expected"),
    [
        ("example-pkg", "0.7.0", RELEASES_A, "0.7.0"),  # case 012 A
        ("other-pkg", "0.10.0", RELEASES_B, "0.10.0"),  # case 012 B
        ("example-pkg", None, RELEASES_A, "0.7.0"),  # case 012 C
    ],
)
async def test_pypi_version_is_info_version_else_computed(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    name: str,
    version: str | None,
    releases: dict[str, Any],
    expected: str,
) -> None:
    await make_package(sessionmaker, id=1, pypi_url=f"https://pypi.org/project/{name}/")
    upstream.expect_request(f"/pypi/{name}/json").respond_with_response(
        json_response({"info": _info(name=name, version=version), "releases": releases})
    )

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.pypi_version == expected
    assert package.last_exception is None


@pytest.mark.parametrize(
    ("stored_docs", "info", "expected"),
    [
        # Case 014 A: project_urls is null; no error, nothing to fill.
        (
            "",
            _info(version="0.3.0", home_page="https://github.com/example-org/example-nulls"),
            "",
        ),
        # Case 014 B: a lower-case "docs" key.
        (
            "",
            _info(
                version="1.2.0",
                project_urls={
                    "Homepage": "https://example.org",
                    "docs": "https://example-docs.readthedocs.io/",
                },
            ),
            "https://example-docs.readthedocs.io/",
        ),
        # Case 014 C: a value a person set is never overwritten.
        (
            "https://docs.example.org/custom/",
            _info(
                version="1.2.0",
                project_urls={"docs": "https://example-docs.readthedocs.io/"},
            ),
            "https://docs.example.org/custom/",
        ),
        # Case 014 D: no project_urls key at all, only the legacy docs_url.
        (
            "",
            {
                "name": "example-old",
                "version": "0.1.0",
                "docs_url": "https://pythonhosted.org/example-old/",
            },
            "https://pythonhosted.org/example-old/",
        ),
    ],
)  # fmt: skip
async def test_documentation_url_is_filled_only_when_empty(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    stored_docs: str,
    info: dict[str, Any],
    expected: str,
) -> None:
    await make_package(
        sessionmaker, id=1, pypi_url="example-pkg", documentation_url=stored_docs
    )
    upstream.expect_request("/pypi/example-pkg/json").respond_with_response(
        json_response({"info": info, "releases": {}, "urls": []})
    )

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.documentation_url == expected
    assert package.pypi_version == info["version"]
    assert package.last_exception is None
    assert summary.failed == 0


async def test_pypi_404_is_recorded_and_keeps_the_version(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(sessionmaker, id=1, pypi_url="gone-pkg", pypi_version="1.0")
    upstream.expect_request("/pypi/gone-pkg/json").respond_with_response(
        json_response({"message": "Not Found"}, status=404)
    )

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (package.pypi_version, package.last_exception) == ("1.0", "404 Not Found")
    assert package.last_exception_count == 1
    assert package.last_fetched is None
    assert len(hits(upstream, "/pypi/gone-pkg/json")) == 1
    assert summary.failed == 1


async def test_unrecognised_pypi_url_is_recorded_without_a_request(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(sessionmaker, id=1, pypi_url="https://example.org/pkg/")

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.last_exception == "not a PyPI project URL"
    assert summary.failed == 1
    assert upstream.log == []
