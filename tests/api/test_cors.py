"""CORS: off unless CORS_ALLOW_ORIGINS names origins; then for those only."""

import httpx
import pytest
from pydantic import ValidationError

from app.config import Settings
from tests.api.conftest import ClientFactory

ORIGIN = "https://app.example.org"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "PATCH",
    "Access-Control-Request-Headers": "authorization, if-match, content-type",
}
EXPOSED = (
    "ETag, Last-Modified, Location, Retry-After, RateLimit-Limit, "
    "RateLimit-Remaining, RateLimit-Reset, X-Request-ID"
)


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {
        name: value
        for name, value in response.headers.items()
        if name.startswith("access-control-")
    }


async def test_without_origins_no_answer_has_a_cors_header(
    client: httpx.AsyncClient,
) -> None:
    preflight = await client.options("/api/v4/packages/1/", headers=PREFLIGHT)
    read = await client.get("/api/v4/", headers={"Origin": ORIGIN})

    assert (preflight.status_code, cors_headers(preflight)) == (200, {})
    assert preflight.headers["allow"] == "GET, PATCH, DELETE, HEAD, OPTIONS"
    assert (read.status_code, cors_headers(read)) == (200, {})


async def test_a_preflight_from_an_allowed_origin_is_answered(
    client_with: ClientFactory,
) -> None:
    async with client_with(
        cors_allow_origins=[ORIGIN, "http://localhost:3000"]
    ) as client:
        response = await client.options("/api/v4/packages/1/", headers=PREFLIGHT)

    assert response.status_code == 200
    assert cors_headers(response) == {
        "access-control-allow-origin": ORIGIN,
        "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
        "access-control-allow-headers": (
            "Accept, Accept-Language, Authorization, Content-Language, "
            "Content-Type, If-Match, If-Modified-Since, If-None-Match, "
            "If-Unmodified-Since, X-Request-ID"
        ),
        "access-control-max-age": "600",
    }
    assert response.headers["vary"] == (
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
        "Access-Control-Request-Private-Network"
    )
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_an_answer_to_an_allowed_origin_exposes_the_headers(
    client_with: ClientFactory,
) -> None:
    async with client_with(
        cors_allow_origins=[ORIGIN], rate_limit_reads="5/minute"
    ) as client:
        response = await client.get("/api/v4/", headers={"Origin": ORIGIN})

    assert response.status_code == 200
    assert cors_headers(response) == {
        "access-control-allow-origin": ORIGIN,
        "access-control-expose-headers": EXPOSED,
    }
    assert response.headers["ratelimit-remaining"] == "4"


async def test_another_origin_gets_no_permission(client_with: ClientFactory) -> None:
    async with client_with(cors_allow_origins=[ORIGIN]) as client:
        preflight = await client.options(
            "/api/v4/packages/1/",
            headers={**PREFLIGHT, "Origin": "https://evil.example.com"},
        )
        read = await client.get(
            "/api/v4/", headers={"Origin": "https://evil.example.com"}
        )

    assert preflight.status_code == 400
    assert preflight.headers["content-type"] == "application/problem+json"
    assert preflight.json() == {
        "type": "https://www.rfc-editor.org/rfc/rfc9110#section-15.5.1",
        "title": "Bad Request",
        "status": 400,
        "detail": "This cross-origin request is not allowed: its origin "
        "(see CORS_ALLOW_ORIGINS).",
        "instance": "/api/v4/packages/1/",
    }
    assert "access-control-allow-origin" not in preflight.headers
    assert read.status_code == 200
    assert "access-control-allow-origin" not in read.headers


async def test_a_preflight_asking_for_an_unlisted_header_says_so(
    client_with: ClientFactory,
) -> None:
    async with client_with(cors_allow_origins=[ORIGIN]) as client:
        preflight = await client.options(
            "/api/v4/packages/1/",
            headers={**PREFLIGHT, "Access-Control-Request-Headers": "x-evil"},
        )

    assert preflight.status_code == 400
    assert preflight.json()["detail"] == (
        "This cross-origin request is not allowed: its headers "
        "(see CORS_ALLOW_ORIGINS)."
    )
    assert preflight.headers["access-control-allow-origin"] == ORIGIN


def test_origins_are_read_from_a_comma_list() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        cors_allow_origins=" https://a.example.org/, http://localhost:3000 ,",
    )

    assert settings.cors_allow_origins == [
        "https://a.example.org",
        "http://localhost:3000",
    ]
    assert Settings(_env_file=None).cors_allow_origins == []  # type: ignore[call-arg]


def test_an_origin_with_a_path_fails_settings_validation() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, cors_allow_origins="https://a.example.org/app")  # type: ignore[call-arg]

    [error] = caught.value.errors()
    assert error["loc"] == ("cors_allow_origins",)
    assert error["msg"] == (
        "Value error, 'https://a.example.org/app' is not an origin such as "
        "https://app.example.org (scheme and host, no path), or *"
    )
