"""The whole job on real input: import, fetch, serve the reference package.

Django Packages' real answer for package 2403 is imported with every fetched
stat wiped, refreshed from stand-in GitHub and PyPI servers that answer in
the upstreams' real shapes (captured bodies with this repository's values),
and must then be served exactly as Django Packages served it, apart from
the host in links and a fresh last_fetched.
"""

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.catalog.schemas import CatalogDocument
from app.catalog.service import import_catalog
from app.config import Settings
from app.fetcher.refresh import refresh_packages
from app.main import create_app
from tests.fetcher.support import base_url, json_response, load

REFERENCE = json.loads(
    (
        Path(__file__).parents[1]
        / "data"
        / "djangopackages"
        / "api-v4-package-2403.json"
    ).read_text()
)
REPO = "/repos/jazzband/django-push-notifications"
REPO_ID = 13044478  # any id: GitHub's next links name the repository by id
FETCHED_STATS = {
    "repo_watchers": 0,
    "repo_forks": 0,
    "repo_description": "",
    "pypi_version": "",
    "participants": [],
    "commits_over_52": [],
    "last_updated": None,
    "last_fetched": None,
}


def reference_catalogue() -> CatalogDocument:
    package = {**REFERENCE, **FETCHED_STATS}
    return CatalogDocument.model_validate(
        {
            "categories": [{"id": 1, "title": "App", "slug": "apps"}],
            "grids": [
                {"id": 139, "title": "Notifications", "slug": "notifications"},
                {"id": 291, "title": "Mobile", "slug": "mobile"},
            ],
            "packages": [package],
        }
    )


def serve_upstreams(upstream: HTTPServer) -> None:
    """GitHub and PyPI answers for the package, in their captured shapes."""
    base = base_url(upstream)

    repo = load("github/repos-sigmavirus24-github3.py.json")["body"]
    repo.update(
        id=REPO_ID,
        full_name="jazzband/django-push-notifications",
        html_url="https://github.com/jazzband/django-push-notifications",
        stargazers_count=REFERENCE["repo_watchers"],
        watchers_count=REFERENCE["repo_watchers"],
        forks_count=REFERENCE["repo_forks"],
        description=REFERENCE["repo_description"],
        archived=False,
    )
    upstream.expect_request(REPO).respond_with_json(repo)

    template = load(
        "github/contributors-sigmavirus24-github3.py-per_page-100-page1.json"
    )
    entry = template["body"][0]
    logins = REFERENCE["participants"]
    pages = [logins[:100], logins[100:]]
    page_urls = [f"{base}/repositories/{REPO_ID}/contributors?per_page=100&page=2"]
    for number, page in enumerate(pages, start=1):
        body = [{**copy.deepcopy(entry), "login": login} for login in page]
        headers = {}
        if number == 1:
            headers["Link"] = (
                f'<{page_urls[0]}>; rel="next", <{page_urls[0]}>; rel="last"'
            )
        query = {"per_page": "100"} if number == 1 else {"per_page": "100", "page": "2"}
        path = (
            f"{REPO}/contributors"
            if number == 1
            else f"/repositories/{REPO_ID}/contributors"
        )
        upstream.expect_request(path, query_string=query).respond_with_response(
            json_response(body, headers=headers)
        )

    participation = load("github/stats-participation-sigmavirus24-github3.py.json")[
        "body"
    ]
    participation["all"] = REFERENCE["commits_over_52"]
    upstream.expect_request(f"{REPO}/stats/participation").respond_with_json(
        participation
    )

    commit = load("github/commits-sigmavirus24-github3.py-per_page-25.json")["body"][0]
    commit["commit"]["committer"]["date"] = "2026-02-15T20:19:33Z"
    upstream.expect_request(
        f"{REPO}/commits", query_string={"per_page": "1"}
    ).respond_with_json([commit])

    pypi = load("pypi/pypi-django-crispy-forms.json")["body"]
    pypi["info"].update(name="django-push-notifications", version="3.3.0")
    upstream.expect_request("/pypi/django-push-notifications/json").respond_with_json(
        pypi
    )


def expected_body(host: str) -> dict[str, Any]:
    # The reference's links keep ?format=api; asked with ?format=json, ours
    # keep that.
    text = (
        json.dumps(REFERENCE)
        .replace("https://djangopackages.org", host)
        .replace("?format=api", "?format=json")
    )
    return json.loads(text)


@pytest.mark.usefixtures("upstream")
async def test_reference_package_is_served_as_django_packages_serves_it(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    fetch_settings: Settings,
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    async with sessionmaker() as session:
        await import_catalog(session, reference_catalogue())
        await session.commit()
    serve_upstreams(upstream)
    before = datetime.now(UTC)

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    assert (summary.updated, summary.unchanged, summary.failed) == (1, 0, 0)
    app = create_app(
        fetch_settings.model_copy(update={"time_zone": "America/New_York"}),
        engine=engine,
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="https://packages.example.org",
        ) as client,
    ):
        response = await client.get("/api/v4/packages/2403/?format=json")
    assert response.status_code == 200
    body = response.json()
    last_fetched = datetime.fromisoformat(body.pop("last_fetched"))
    expected = expected_body("https://packages.example.org")
    expected.pop("last_fetched")
    assert body == expected
    assert list(body) == [key for key in REFERENCE if key != "last_fetched"]
    assert before <= last_fetched <= datetime.now(UTC) + timedelta(seconds=1)
    assert last_fetched.utcoffset() in (timedelta(hours=-5), timedelta(hours=-4))
