"""/metrics: requests by route, upstream fetches, rate-limit budget, staleness."""

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.fetcher.errors import NotFound, TransientError
from app.fetcher.http import get_json
from app.fetcher.limiter import Limiters, use_limiters
from tests.factories import make_category, make_package


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


async def test_requests_are_counted_by_route_template_and_status(
    client: httpx.AsyncClient,
) -> None:
    route = "/api/v4/packages/{package}/"
    before = sample(
        "packages_api_requests_total", method="GET", route=route, status="404"
    )
    timed = sample(
        "packages_api_request_duration_seconds_count", method="GET", route=route
    )
    unmatched = sample(
        "packages_api_requests_total", method="GET", route="<unmatched>", status="404"
    )

    await client.get("/api/v4/packages/no-such-package/")
    await client.get("/api/v4/packages/12345")
    await client.get("/no/such/path")
    scraped = await scrape(client)

    key = (("method", "GET"), ("route", route), ("status", "404"))
    assert scraped[("packages_api_requests_total", key)] == before + 2
    assert (
        scraped[
            (
                "packages_api_request_duration_seconds_count",
                (("method", "GET"), ("route", route)),
            )
        ]
        == timed + 2
    )
    unmatched_key = (("method", "GET"), ("route", "<unmatched>"), ("status", "404"))
    assert scraped[("packages_api_requests_total", unmatched_key)] == unmatched + 1


async def test_fetches_are_counted_by_upstream_and_outcome_with_the_budget_left(
    settings: Settings,
) -> None:
    reset = str(int(time.time()) + 3600)
    answers = {
        "/ok": httpx.Response(
            200,
            json={"stars": 1},
            headers={
                "x-ratelimit-remaining": "4321",
                "x-ratelimit-reset": reset,
                "x-ratelimit-limit": "5000",
            },
        ),
        "/same": httpx.Response(304),
        "/gone": httpx.Response(404, json={"message": "Not Found"}),
        "/down": httpx.Response(502),
    }
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: answers[request.url.path])
    )
    use_limiters(client, Limiters(settings))
    upstream = "forge.test:8443"
    counts = {
        outcome: sample(
            "packages_api_fetches_total", upstream=upstream, outcome=outcome
        )
        for outcome in ("ok", "not_modified", "not_found", "transient")
    }

    await get_json(client, f"https://{upstream}/ok", settings=settings)
    await get_json(client, f"https://{upstream}/ok", settings=settings)
    await get_json(
        client, f"https://{upstream}/same", settings=settings, accept=frozenset({304})
    )
    with pytest.raises(NotFound):
        await get_json(client, f"https://{upstream}/gone", settings=settings)
    with pytest.raises(TransientError):
        await get_json(client, f"https://{upstream}/down", settings=settings)

    def now(outcome: str) -> float:
        return sample("packages_api_fetches_total", upstream=upstream, outcome=outcome)

    assert now("ok") == counts["ok"] + 2
    assert now("not_modified") == counts["not_modified"] + 1
    assert now("not_found") == counts["not_found"] + 1
    # Three attempts (FETCH_RETRIES) end as one transient failure.
    assert now("transient") == counts["transient"] + 1
    assert (
        sample("packages_api_upstream_rate_limit_remaining", upstream=upstream) == 4321
    )


async def test_the_stalest_package_and_the_never_fetched_are_reported(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    now = datetime.now(UTC)
    await make_category(sessionmaker)
    await make_package(sessionmaker, id=1, last_fetched=now - timedelta(hours=1))
    await make_package(sessionmaker, id=2, last_fetched=now - timedelta(minutes=1))
    await make_package(sessionmaker, id=3, created=now - timedelta(minutes=30))
    await make_package(sessionmaker, id=4, created=now - timedelta(minutes=20))

    scraped = await scrape(client)

    age = scraped[("packages_api_stalest_package_age_seconds", ())]
    assert 3600 <= age < 3600 + 30
    assert scraped[("packages_api_packages_never_fetched", ())] == 2


async def test_a_never_fetched_package_counts_from_its_creation(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    now = datetime.now(UTC)
    await make_category(sessionmaker)
    await make_package(sessionmaker, id=1, last_fetched=now - timedelta(hours=1))
    await make_package(sessionmaker, id=2, created=now - timedelta(hours=5))

    scraped = await scrape(client)

    age = scraped[("packages_api_stalest_package_age_seconds", ())]
    assert 5 * 3600 <= age < 5 * 3600 + 30
    assert scraped[("packages_api_packages_never_fetched", ())] == 1


async def test_an_empty_catalogue_has_no_stalest_package(
    client: httpx.AsyncClient,
) -> None:
    scraped = await scrape(client)

    assert ("packages_api_stalest_package_age_seconds", ()) not in scraped
    assert scraped[("packages_api_packages_never_fetched", ())] == 0
