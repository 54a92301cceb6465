"""Swagger UI in a real headless Chromium, against a real server on loopback.

Debian's chromium and chromium-driver packages are used (`.ci/run` installs
them); nothing is downloaded. The browser is kept to loopback: every host
name but 127.0.0.1 fails to resolve and any other address goes to a dead
proxy, and the test checks that every request it made went to the server.
"""

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import make_category, make_package
from tests.live import LiveServer, live_server

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def _need_browser() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if not missing:
        return
    message = f"{', '.join(missing)} missing: apt-get install chromium chromium-driver"
    if os.environ.get("CI"):
        pytest.fail(message)  # CI installs them (.ci/run): never skip there
    pytest.skip(message)


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDriver]:
    _need_browser()
    # Selenium Manager must never look for a browser or driver online.
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9",
        "--window-size=1280,2000",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
async def server(
    database_url: str, tmp_path: Path, sessionmaker: async_sessionmaker[AsyncSession]
) -> Iterator[LiveServer]:
    _need_browser()
    await make_category(sessionmaker)
    await make_package(
        sessionmaker,
        id=2403,
        slug="django-push-notifications",
        title="django-push-notifications",
        repo_url="https://github.com/jazzband/django-push-notifications",
    )
    with live_server(database_url, tmp_path) as running:
        yield running


def _requested_urls(driver: WebDriver) -> list[str]:
    """URLs the page asked the network for; those the page's CSP stopped are not."""
    sent: dict[str, str] = {}
    blocked: set[str] = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            sent[params["requestId"]] = params["request"]["url"]
        elif (
            message["method"] == "Network.loadingFailed"
            and params.get("blockedReason") == "csp"
        ):
            blocked.add(params["requestId"])
    return [url for request, url in sent.items() if request not in blocked]


def _operations(driver: WebDriver) -> set[tuple[str, str]]:
    return {
        (
            block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text,
            block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute(
                "data-path"
            )
            or "",
        )
        for block in driver.find_elements(By.CSS_SELECTOR, ".opblock")
    }


def _operation(driver: WebDriver, method: str, path: str) -> WebElement:
    for block in driver.find_elements(By.CSS_SELECTOR, f".opblock-{method.lower()}"):
        summary = block.find_element(By.CSS_SELECTOR, ".opblock-summary-path")
        if summary.get_attribute("data-path") == path:
            return block
    raise AssertionError(f"no {method} {path} on the page")


async def test_swagger_ui_renders_every_operation_and_try_it_out_gets_a_package(
    browser: WebDriver, server: LiveServer
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        document: dict[str, Any] = (await client.get("/openapi.json")).json()
        package = (
            await client.get("/api/v4/packages/django-push-notifications/")
        ).json()
    documented = {
        (method.upper(), path)
        for path, methods in document["paths"].items()
        for method in methods
    }
    wait = WebDriverWait(browser, 30)

    browser.get(f"{server.url}/docs")
    wait.until(lambda d: len(_operations(d)) == len(documented))
    rendered = _operations(browser)

    block = _operation(browser, "GET", "/api/v4/packages/{package}/")
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(lambda _: block.find_elements(By.CSS_SELECTOR, ".try-out__btn"))
    block.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
    field = wait.until(
        lambda _: block.find_element(
            By.CSS_SELECTOR, 'tr[data-param-name="package"] input'
        )
    )
    field.send_keys("django-push-notifications")
    block.find_element(By.CSS_SELECTOR, ".btn.execute").click()
    status = wait.until(
        lambda _: block.find_element(
            By.CSS_SELECTOR, ".live-responses-table .response .response-col_status"
        )
    )
    body = block.find_element(
        By.CSS_SELECTOR, ".live-responses-table .response-col_description pre"
    )
    request_url = block.find_element(By.CSS_SELECTOR, ".request-url pre").text
    urls = _requested_urls(browser)

    assert rendered == documented
    assert ("GET", "/api/v4/packages/{package}/") in rendered
    assert status.text == "200"
    assert request_url == f"{server.url}/api/v4/packages/django-push-notifications/"
    assert json.loads(body.text) == package
    assert package["id"] == 2403
    assert f"{server.url}/openapi.json" in urls
    assert f"{server.url}/docs-assets/swagger-ui-bundle.js" in urls
    # chrome:// pages are the browser's own (its start page), not the network.
    inside = (f"{server.url}/", "data:", "blob:", "chrome:", "chrome-untrusted:")
    outside = [url for url in urls if not url.startswith(inside)]
    assert outside == []


async def test_redoc_renders_every_operation(
    browser: WebDriver, server: LiveServer
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        document: dict[str, Any] = (await client.get("/openapi.json")).json()
    summaries = {
        operation["summary"]
        for methods in document["paths"].values()
        for operation in methods.values()
    }
    wait = WebDriverWait(browser, 30)

    browser.get(f"{server.url}/redoc")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "h2"))
    headings = {
        heading.text for heading in browser.find_elements(By.CSS_SELECTOR, "h2")
    }
    urls = _requested_urls(browser)

    assert summaries <= headings
    # ReDoc's footer asks a CDN for its logo; the page's policy stops that.
    inside = (f"{server.url}/", "data:", "blob:", "chrome:", "chrome-untrusted:")
    assert [url for url in urls if not url.startswith(inside)] == []
