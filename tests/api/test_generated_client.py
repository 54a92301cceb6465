"""A Python client generated from the live document drives a real server.

The service runs under uvicorn on a free loopback port, in a thread of its
own with its own engine on the test database. openapi-python-client
generates a client from the /openapi.json that server serves; the test
imports it and uses it as an SDK user would, asserting the typed results.
"""

import importlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.main import create_app
from tests.factories import EPOCH, make_category, make_grid, make_package

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
CONFIG = """\
project_name_override: packages-api-client
package_name_override: packages_api_client
post_hooks: []
content_type_overrides:
  application/problem+json: application/json
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    """The app under uvicorn on 127.0.0.1; yields its base URL."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings),  # its own engine, on the server's event loop
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        http="h11",
        ws="none",
        loop="asyncio",
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start in 30 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def generated(server: str, tmp_path: Path) -> Iterator[ModuleType]:
    """The client package generated from the running server's document."""
    document = tmp_path / "openapi.json"
    document.write_bytes(httpx.get(f"{server}/openapi.json", timeout=10).content)
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "packages_api_client"

    command = [str(GENERATOR), "generate", "--path", str(document), "--meta", "none"]
    subprocess.run(
        [*command, "--output-path", str(out), "--config", str(config)],
        check=True,
        capture_output=True,
        timeout=120,
    )

    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("packages_api_client")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("packages_api_client")]:
            del sys.modules[name]


def module(client: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{client.__name__}.{name}")


@pytest.fixture
async def catalogue(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await make_category(sessionmaker)
    await make_grid(sessionmaker, id=7)
    await make_package(
        sessionmaker,
        id=2403,
        slug="example-package",
        grid_ids=(7,),
        repo_watchers=1120,
        commits_over_52=[0] * 51 + [3],
        last_fetched=datetime(2025, 2, 1, tzinfo=UTC),
    )
    await make_package(sessionmaker, id=2404, slug="other-package")


@pytest.mark.timeout(180)
@pytest.mark.usefixtures("catalogue")
def test_a_generated_client_lists_gets_patches_and_reads_errors(
    generated: ModuleType, server: str, token: str
) -> None:
    api = generated
    models = module(api, "models")
    list_packages = module(api, "api.packages.list_packages")
    get_package = module(api, "api.packages.get_package")
    update_package = module(api, "api.packages.update_package")
    get_fetch_state = module(api, "api.fetches.get_fetch_state")

    with (
        api.Client(base_url=server, timeout=httpx.Timeout(10)) as anonymous,
        api.AuthenticatedClient(
            base_url=server, token=token, timeout=httpx.Timeout(10)
        ) as editor,
    ):
        first = list_packages.sync(client=anonymous, limit=1)
        second = list_packages.sync(client=anonymous, limit=1, offset=1)
        by_id = get_package.sync_detailed("2403", client=anonymous)
        by_slug = get_package.sync("example-package", client=anonymous)
        edited = update_package.sync_detailed(
            "2403",
            client=editor,
            body=models.PackageUpdate(title="Edited by an SDK"),
            if_match=by_id.headers["etag"],
        )
        stale = update_package.sync(
            "2403",
            client=editor,
            body=models.PackageUpdate(title="Overwrite"),
            if_match=by_id.headers["etag"],
        )
        fetch = get_fetch_state.sync("2403", client=anonymous)
        missing = get_package.sync_detailed("no-such-package", client=anonymous)
        invalid = list_packages.sync(client=anonymous, limit=0)

    assert isinstance(first, models.PackagePage)
    assert (first.count, first.previous) == (2, None)
    assert first.next_ == f"{server}/api/v4/packages/?limit=1&offset=1"
    assert [p.id for p in first.results] == [2404]
    assert [p.slug for p in second.results] == ["example-package"]
    assert second.previous == f"{server}/api/v4/packages/?limit=1"

    package = by_id.parsed
    assert isinstance(package, models.PackageRead)
    assert by_slug == package
    assert (package.id, package.title, package.repo_watchers) == (
        2403,
        "Package 2403",
        1120,
    )
    assert package.grids == [f"{server}/api/v4/grids/7/"]
    assert package.commits_over_52 == [0] * 51 + [3]
    assert package.created == EPOCH
    assert package.last_fetched == datetime(2025, 2, 1, tzinfo=UTC)
    assert package.last_updated is None

    assert edited.status_code == 200
    assert isinstance(edited.parsed, models.PackageRead)
    assert edited.parsed.title == "Edited by an SDK"
    assert edited.parsed.modified > EPOCH
    assert edited.headers["etag"] != by_id.headers["etag"]

    assert isinstance(stale, models.Problem)
    assert (stale.status, stale.title) == (412, "Precondition Failed")

    assert isinstance(fetch, models.FetchRead)
    assert fetch.state is models.FetchReadState.IDLE
    assert fetch.package == f"{server}/api/v4/packages/2403/"

    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.Problem)
    assert (missing.parsed.detail, missing.parsed.instance) == (
        "Not found.",
        "/api/v4/packages/no-such-package/",
    )

    assert isinstance(invalid, models.ValidationProblem)
    assert invalid.status == 422
    assert [(e.loc, e.type_) for e in invalid.errors] == [
        (["query", "limit"], "greater_than_equal")
    ]
