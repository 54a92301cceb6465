"""Swagger UI and ReDoc load everything from the service itself: no CDN."""

import re

import httpx
import pytest

# What a page makes the browser fetch: src and href attributes, ReDoc's
# spec-url and the OpenAPI URL handed to Swagger UI.
_REFERENCE = re.compile(r"""(?:src|href|spec-url)="([^"]*)"|\burl: '([^']*)'""")


def references(page: str) -> set[str]:
    return {first or second for first, second in _REFERENCE.findall(page)}


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (
            "/docs",
            {
                "/docs-assets/swagger-ui.css",
                "/docs-assets/favicon.png",
                "/docs-assets/swagger-ui-bundle.js",
                "/openapi.json",
            },
        ),
        (
            "/redoc",
            {
                "/docs-assets/favicon.png",
                "/docs-assets/redoc.standalone.js",
                "/openapi.json",
            },
        ),
    ],
)
async def test_the_docs_pages_name_no_outside_host_and_every_asset_answers(
    client: httpx.AsyncClient, page: str, expected: set[str]
) -> None:
    response = await client.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "http://" not in response.text
    assert "https://" not in response.text
    assert "//" not in "".join(references(response.text))
    assert references(response.text) == expected
    for url in expected:
        asset = await client.get(url)
        assert (url, asset.status_code) == (url, 200)
        assert len(asset.content) > 100


@pytest.mark.parametrize(
    ("url", "content_type"),
    [
        ("/docs-assets/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("/docs-assets/swagger-ui.css", "text/css; charset=utf-8"),
        ("/docs-assets/redoc.standalone.js", "text/javascript; charset=utf-8"),
        ("/docs-assets/favicon.png", "image/png"),
    ],
)
async def test_assets_are_served_with_their_types(
    client: httpx.AsyncClient, url: str, content_type: str
) -> None:
    response = await client.get(url)

    assert response.status_code == 200
    assert response.headers["content-type"] == content_type


async def test_the_stylesheet_fetches_nothing_from_elsewhere(
    client: httpx.AsyncClient,
) -> None:
    css = (await client.get("/docs-assets/swagger-ui.css")).text

    urls = re.findall(r"url\(\s*['\"]?([^'\")]*)", css)
    assert urls
    assert [url for url in urls if not url.startswith("data:")] == []


async def test_swagger_ui_asks_no_online_validator(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs")).text

    assert '"validatorUrl": null' in page


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_the_docs_pages_may_load_nothing_from_elsewhere(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)

    assert response.headers["content-security-policy"] == (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )


async def test_api_answers_carry_the_api_policy_not_the_docs_one(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v4/")

    assert response.headers["content-security-policy"] == (
        "default-src 'none'; frame-ancestors 'none'"
    )
