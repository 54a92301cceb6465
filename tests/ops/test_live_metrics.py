"""/metrics of `serve --workers 2`: every worker's counts, summed into one."""

import os
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.ops.metrics import MULTIPROC_ENV, prepare_multiprocess
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


def test_an_operators_folder_is_emptied_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_123.db").write_bytes(b"stale")
    monkeypatch.setenv(MULTIPROC_ENV, str(folder))

    made = prepare_multiprocess(2)

    assert made is None
    assert folder.is_dir()
    assert list(folder.iterdir()) == []


def test_without_a_folder_one_is_made_for_several_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)

    assert prepare_multiprocess(1) is None
    assert MULTIPROC_ENV not in os.environ
    made = prepare_multiprocess(2)

    try:
        assert made is not None
        assert os.environ[MULTIPROC_ENV] == str(made)
        assert list(made.iterdir()) == []
    finally:
        # The process goes on counting in memory, as before.
        os.environ.pop(MULTIPROC_ENV, None)
        if made is not None:
            made.rmdir()
