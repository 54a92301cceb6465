"""Security headers on every kind of answer, and the policy each one gets."""

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.api.conftest import ClientFactory
from tests.factories import make_category, make_package

COMMON = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-resource-policy": "same-origin",
}
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def security_headers(response: httpx.Response) -> dict[str, str]:
    names = [*COMMON, "content-security-policy", "strict-transport-security"]
    return {name: response.headers[name] for name in names if name in response.headers}


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "policy"),
    [
        ("GET", "/api/v4/packages/2403/", {}, 200, API_POLICY),
        ("GET", "/api/v4/packages/nope/", {}, 404, API_POLICY),
        ("PATCH", "/api/v4/packages/2403/", {}, 401, API_POLICY),
        ("GET", "/api/v4/packages/2403/?format=api", {}, 200, PAGE_POLICY),
        ("GET", "/api/v4/packages/nope/?format=api", {}, 404, PAGE_POLICY),
        ("GET", "/api/v4/grids/nope/matrix/?format=csv", {}, 404, API_POLICY),
        ("OPTIONS", "/api/v4/packages/", {}, 200, API_POLICY),
        ("GET", "/", {}, 200, API_POLICY),
        ("GET", "/docs", {}, 200, DOCS_POLICY),
        ("GET", "/redoc", {}, 200, DOCS_POLICY),
        ("GET", "/docs/oauth2-redirect", {}, 200, DOCS_POLICY),
        ("GET", "/openapi.json", {}, 200, API_POLICY),
        ("GET", "/metrics", {}, 200, API_POLICY),
        ("GET", "/healthz", {}, 200, API_POLICY),
        ("GET", "/nowhere", {}, 404, API_POLICY),
    ],
)
async def test_every_answer_carries_the_headers_and_its_policy(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
    policy: str,
) -> None:
    await make_category(sessionmaker)
    await make_package(sessionmaker, id=2403, slug="example-package")

    response = await client.request(method, path, headers=headers)

    assert response.status_code == status
    assert security_headers(response) == {
        **COMMON,
        "content-security-policy": policy,
    }


async def test_a_304_carries_them_too(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    etag = (await client.get("/api/v4/categories/1/")).headers["etag"]

    response = await client.get(
        "/api/v4/categories/1/", headers={"If-None-Match": etag}
    )

    assert response.status_code == 304
    assert security_headers(response) == {
        **COMMON,
        "content-security-policy": API_POLICY,
    }


async def test_https_through_a_trusted_proxy_adds_strict_transport_security(
    client: httpx.AsyncClient,
) -> None:
    secure = await client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    plain = await client.get("/healthz")

    assert secure.headers["strict-transport-security"] == "max-age=31536000"
    assert "strict-transport-security" not in plain.headers


async def test_a_429_carries_them_too(client_with: ClientFactory) -> None:
    async with client_with(rate_limit_writes="1/minute") as client:
        await client.post("/api/v4/packages/")
        response = await client.post("/api/v4/packages/")

    assert response.status_code == 429
    assert security_headers(response) == {
        **COMMON,
        "content-security-policy": API_POLICY,
    }
