"""Package 2403 of the sample catalogue, against Django Packages' own answer."""

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.catalog.schemas import CatalogDocument
from app.catalog.service import import_catalog
from app.cli import SAMPLE_CATALOG
from tests.api.bodies import PACKAGE_KEYS
from tests.api.conftest import ClientFactory


@pytest.fixture
def reference(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "djangopackages" / "api-v4-package-2403.json"
    # Django Packages' links keep the ?format=api of its browsable page; the
    # JSON asked for with ?format=json keeps that format the same way.
    text = path.read_text(encoding="utf-8").replace("?format=api", "?format=json")
    body: dict[str, Any] = json.loads(text)
    return body


@pytest.fixture
async def sample(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        await import_catalog(
            session, CatalogDocument.model_validate_json(SAMPLE_CATALOG.read_bytes())
        )
        await session.commit()


@pytest.mark.usefixtures("sample")
async def test_package_2403_is_served_exactly_as_the_reference(
    client_with: ClientFactory, reference: dict[str, Any]
) -> None:
    async with client_with(time_zone="America/New_York") as client:
        response = await client.get(
            "/api/v4/packages/2403/?format=json",
            headers={"X-Forwarded-Proto": "https", "Host": "djangopackages.org"},
        )

    assert response.status_code == 200
    assert list(response.json()) == list(reference) == PACKAGE_KEYS
    assert response.json() == reference


@pytest.mark.usefixtures("sample")
async def test_package_2403_timestamps_match_the_reference_strings(
    client_with: ClientFactory,
) -> None:
    async with client_with(time_zone="America/New_York") as client:
        body = (await client.get("/api/v4/packages/2403/")).json()

    assert body["last_updated"] == "2026-02-15T15:19:33-05:00"
    assert body["last_fetched"] == "2026-02-15T17:08:28.806552-05:00"
    assert body["created"] == "2014-06-03T00:28:54.612484-04:00"
    assert body["modified"] == "2026-01-28T14:04:56.613682-05:00"


@pytest.mark.usefixtures("sample")
async def test_package_2403_differs_only_in_the_host_of_its_links(
    client_with: ClientFactory, reference: dict[str, Any]
) -> None:
    async with client_with(time_zone="America/New_York") as client:
        response = await client.get("/api/v4/packages/2403")

    assert response.json() == {
        **reference,
        "category": "http://testserver/api/v4/categories/1/",
        "grids": [
            "http://testserver/api/v4/grids/139/",
            "http://testserver/api/v4/grids/291/",
        ],
    }


@pytest.mark.usefixtures("sample")
async def test_package_2403_in_utc(
    client_with: ClientFactory, reference: dict[str, Any]
) -> None:
    async with client_with(time_zone="UTC") as client:
        response = await client.get("/api/v4/packages/django-push-notifications/")

    body = response.json()
    assert (
        body["last_updated"],
        body["last_fetched"],
        body["created"],
        body["modified"],
    ) == (
        "2026-02-15T20:19:33Z",
        "2026-02-15T22:08:28.806552Z",
        "2014-06-03T04:28:54.612484Z",
        "2026-01-28T19:04:56.613682Z",
    )
    assert body["participants"] == reference["participants"]
    assert body["commits_over_52"] == reference["commits_over_52"]


@pytest.mark.usefixtures("sample")
async def test_the_sample_grids_list_package_2403(
    client_with: ClientFactory,
) -> None:
    async with client_with() as client:
        response = await client.get("/api/v4/grids/?format=json")

    assert [
        (grid["id"], grid["slug"], grid["packages"])
        for grid in response.json()["results"]
    ] == [
        (291, "mobile", ["http://testserver/api/v4/packages/2403/?format=json"]),
        (
            139,
            "push-notifications",
            ["http://testserver/api/v4/packages/2403/?format=json"],
        ),
        (
            12,
            "forms",
            [
                "http://testserver/api/v4/packages/3/?format=json",
                "http://testserver/api/v4/packages/6/?format=json",
            ],
        ),
        (11, "api-frameworks", ["http://testserver/api/v4/packages/2/?format=json"]),
    ]
