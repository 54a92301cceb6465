"""`packages-api import` while a real server answers reads: no error, no
partial package, no half-imported catalogue.

The catalogue is imported into an empty database and then imported again
with every package changed (its title, description, category, grids and
repository stats), each by the real command in its own process, while
clients read lists, packages and their categories from a real server on
the same database. Every answer is a 200 (or, before the first import
commits, a 404 for a package); every package read is wholly of one version
of the document, its category is there, and a list shows either none or
all of the catalogue, each of its pages of one version.
"""

import asyncio
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.live import live_server

PACKAGES = 300
CATEGORIES = 4
GRIDS = 3
VERSIONS = ("A", "B")


def category_of(n: int, version: str) -> int:
    return 1 + (n + VERSIONS.index(version)) % CATEGORIES


def grids_of(n: int, version: str) -> list[int]:
    shift = VERSIONS.index(version)
    return sorted({1 + (n + shift) % GRIDS, 1 + (n * 7 + shift) % GRIDS})


def document(version: str) -> dict[str, Any]:
    """The catalogue as version `version` of the document has it."""
    return {
        "categories": [
            {"id": c, "title": f"Category {c}", "slug": f"category-{c}"}
            for c in range(1, CATEGORIES + 1)
        ],
        "grids": [
            {"id": g, "title": f"Grid {g}", "slug": f"grid-{g}"}
            for g in range(1, GRIDS + 1)
        ],
        "packages": [
            {
                "id": n,
                "title": f"Package {n} {version}",
                "slug": f"package-{n}",
                "category": category_of(n, version),
                "grids": grids_of(n, version),
                "repo_url": f"https://github.com/example/package-{n}",
                "repo_description": f"Version {version} of package {n}.",
                "repo_watchers": n * 10 + VERSIONS.index(version),
                "pypi_version": f"{VERSIONS.index(version) + 1}.0",
            }
            for n in range(1, PACKAGES + 1)
        ],
    }


def last_id(link: str) -> int:
    return int(link.rstrip("/").rsplit("/", 1)[1])


def faults_of(body: dict[str, Any]) -> list[str]:
    """What in one package answer is not wholly one version of the document."""
    n = body["id"]
    version = body["title"].rsplit(" ", 1)[1]
    if version not in VERSIONS:
        return [f"package {n}: title {body['title']!r}"]
    wanted = {
        "title": f"Package {n} {version}",
        "slug": f"package-{n}",
        "category": category_of(n, version),
        "grids": grids_of(n, version),
        "repo_description": f"Version {version} of package {n}.",
        "repo_watchers": n * 10 + VERSIONS.index(version),
        "pypi_version": f"{VERSIONS.index(version) + 1}.0",
    }
    seen = {
        **{key: body[key] for key in wanted},
        "category": last_id(body["category"]),
        "grids": sorted(last_id(link) for link in body["grids"]),
    }
    return [
        f"package {n} ({version}): {key} is {seen[key]!r}, not {value!r}"
        for key, value in wanted.items()
        if seen[key] != value
    ]


async def run_import(path: Path, database_url: str, folder: Path) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "import",
        str(path),
        cwd=folder,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "FETCH_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_an_import_while_serving_reads_shows_no_partial_package(
    database_url: str, tmp_path: Path, engine: Any
) -> None:
    paths = {}
    for version in VERSIONS:
        paths[version] = tmp_path / f"catalogue-{version}.json"
        paths[version].write_text(json.dumps(document(version)), encoding="utf-8")
    faults: list[str] = []
    counts: set[int] = set()
    versions_seen: set[str] = set()
    reads = 0

    with live_server(database_url, tmp_path) as server:
        importing = True
        imported_once = asyncio.Event()

        async def read_forever(seed: int) -> None:
            nonlocal reads
            chance = random.Random(seed)
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                while importing:
                    offset = chance.randrange(0, PACKAGES, 50)
                    page = await client.get(
                        f"/api/v4/packages/?limit=100&offset={offset}"
                    )
                    n = chance.randint(1, PACKAGES)
                    one = await client.get(f"/api/v4/packages/{n}/")
                    reads += 2
                    if page.status_code != 200:
                        faults.append(f"list: {page.status_code} {page.text[:200]}")
                        continue
                    body = page.json()
                    counts.add(body["count"])
                    page_versions = set()
                    for package in body["results"]:
                        faults.extend(faults_of(package))
                        page_versions.add(package["title"].rsplit(" ", 1)[1])
                    versions_seen.update(page_versions)
                    if len(page_versions) > 1:
                        faults.append(f"a page of both versions: {page_versions}")
                    if body["count"] and len(body["results"]) != min(
                        100, PACKAGES - offset
                    ):
                        faults.append(f"offset {offset}: {len(body['results'])} rows")
                    if one.status_code == 404 and not imported_once.is_set():
                        continue
                    if one.status_code != 200:
                        faults.append(
                            f"package {n}: {one.status_code} {one.text[:200]}"
                        )
                        continue
                    faults.extend(faults_of(one.json()))
                    category = await client.get(one.json()["category"])
                    reads += 1
                    if category.status_code != 200:
                        faults.append(
                            f"package {n}: its category is {category.status_code}"
                        )

        readers = [asyncio.create_task(read_forever(seed)) for seed in range(8)]
        try:
            await asyncio.sleep(0.5)  # the readers see the empty catalogue first
            first = await run_import(paths["A"], database_url, tmp_path)
            imported_once.set()
            await asyncio.sleep(0.5)
            second = await run_import(paths["B"], database_url, tmp_path)
            await asyncio.sleep(0.5)
        finally:
            importing = False
            await asyncio.gather(*readers)
        log = server.log()

    assert first.startswith(
        f"imported {CATEGORIES} categories, {GRIDS} grids, {PACKAGES} packages"
    )
    assert second.startswith(f"imported {CATEGORIES} categories")
    assert faults == []
    assert "Traceback" not in log
    # None or all of the catalogue; both versions were seen, never mixed.
    assert counts == {0, PACKAGES}
    assert versions_seen == set(VERSIONS)
    assert reads > 100
