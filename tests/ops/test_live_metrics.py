"""/metrics of `serve --workers 2`: every worker's counts, summed."""

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.live import live_server


def healthz_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "packages_api_requests_total" and sample.labels == {
                "method": "GET",
                "route": "/healthz",
                "status": "200",
            }:
                return sample.value
    return 0.0


async def test_two_workers_report_one_sum(database_url: str, tmp_path: Path) -> None:
    with live_server(database_url, tmp_path, "--workers", "2") as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            before = healthz_count((await client.get("/metrics")).text)
            for _ in range(30):
                # A connection each, so both workers take some.
                async with httpx.AsyncClient(base_url=server.url) as one:
                    assert (await one.get("/healthz")).status_code == 200
            scrapes = [
                healthz_count((await client.get("/metrics")).text) for _ in range(4)
            ]

    assert before >= 1  # the start-up probe
    assert scrapes == [before + 30] * 4
