"""Per-client rate limits: keys, windows, the 429 and the RateLimit headers."""

import hashlib

import httpx
import pytest
from pydantic import ValidationError

from app.api.ratelimit import client_key
from app.config import Settings
from tests.api.conftest import ClientFactory

PROBLEM_429 = {
    "type": "https://www.rfc-editor.org/rfc/rfc6585#section-4",
    "title": "Too Many Requests",
    "status": 429,
    "detail": "Too many requests: at most 2 writes a minute for each token or client address. Try again in 60 seconds.",
    "instance": "/api/v4/packages/nope/",
}


def limit_headers(response: httpx.Response) -> dict[str, str]:
    return {
        name: response.headers[name]
        for name in (
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "retry-after",
        )
        if name in response.headers
    }


async def test_writes_over_the_limit_are_a_429_with_the_headers(
    client_with: ClientFactory, auth: dict[str, str]
) -> None:
    async with client_with(rate_limit_writes="2/minute") as client:
        answers = [
            await client.patch(
                "/api/v4/packages/nope/", json={"title": "x"}, headers=auth
            )
            for _ in range(3)
        ]

    assert [a.status_code for a in answers] == [404, 404, 429]
    assert [limit_headers(a) for a in answers] == [
        {"ratelimit-limit": "2", "ratelimit-remaining": "1", "ratelimit-reset": "60"},
        {"ratelimit-limit": "2", "ratelimit-remaining": "0", "ratelimit-reset": "60"},
        {
            "ratelimit-limit": "2",
            "ratelimit-remaining": "0",
            "ratelimit-reset": "60",
            "retry-after": "60",
        },
    ]
    assert answers[2].headers["content-type"] == "application/problem+json"
    assert answers[2].json() == PROBLEM_429


async def test_each_token_and_each_address_has_its_own_count(
    client_with: ClientFactory, auth: dict[str, str]
) -> None:
    other = {"Authorization": "Bearer someone-else"}
    async with client_with(rate_limit_writes="1/minute") as client:
        first = await client.patch(
            "/api/v4/packages/nope/", json={"title": "x"}, headers=auth
        )
        again = await client.patch(
            "/api/v4/packages/nope/", json={"title": "x"}, headers=auth
        )
        other_token = await client.patch(
            "/api/v4/packages/nope/", json={"title": "x"}, headers=other
        )
        no_token = await client.delete("/api/v4/packages/nope/")
        no_token_again = await client.delete("/api/v4/packages/nope/")

    assert [
        r.status_code for r in (first, again, other_token, no_token, no_token_again)
    ] == [404, 429, 401, 401, 429]


async def test_made_up_tokens_count_against_their_address(
    client_with: ClientFactory, auth: dict[str, str]
) -> None:
    async with client_with(rate_limit_writes="2/minute") as client:
        made_up = [
            await client.delete(
                "/api/v4/packages/nope/", headers={"Authorization": f"Bearer fake-{n}"}
            )
            for n in range(3)
        ]
        real = await client.patch(
            "/api/v4/packages/nope/", json={"title": "x"}, headers=auth
        )
        no_token = await client.delete("/api/v4/packages/nope/")

    assert [r.status_code for r in made_up] == [401, 401, 429]
    assert made_up[2].json()["detail"] == (
        "Too many requests with unknown tokens: at most 2 unknown tokens a minute "
        "from each client address. Try again in 60 seconds."
    )
    assert limit_headers(made_up[2]) == {
        "ratelimit-limit": "2",
        "ratelimit-remaining": "0",
        "ratelimit-reset": "60",
        "retry-after": "60",
    }
    # The address's refusals hold back its token requests, not its others.
    assert (real.status_code, no_token.status_code) == (429, 401)


async def test_addresses_come_from_the_trusted_proxy_headers(
    client_with: ClientFactory,
) -> None:
    async with client_with(rate_limit_writes="1/minute") as client:
        statuses = [
            (
                await client.post(
                    "/api/v4/packages/", headers={"X-Forwarded-For": address}
                )
            ).status_code
            for address in ("203.0.113.7", "203.0.113.8", "203.0.113.7")
        ]

    assert statuses == [401, 401, 429]


async def test_reads_are_not_limited_unless_set(client_with: ClientFactory) -> None:
    async with client_with(rate_limit_writes="1/minute") as client:
        reads = [await client.get("/api/v4/") for _ in range(3)]

    assert [r.status_code for r in reads] == [200, 200, 200]
    assert [limit_headers(r) for r in reads] == [{}, {}, {}]


async def test_reads_have_their_own_limit_when_set(
    client_with: ClientFactory,
) -> None:
    async with client_with(
        rate_limit_writes="", rate_limit_reads="2/10 seconds"
    ) as client:
        reads = [await client.get("/api/v4/") for _ in range(3)]
        head = await client.head("/api/v4/")
        write = await client.post("/api/v4/packages/")
        health = await client.get("/healthz")
        options = await client.options("/api/v4/")

    assert [r.status_code for r in reads] == [200, 200, 429]
    assert reads[2].json()["detail"] == (
        "Too many requests: at most 2 reads in 10 seconds for each token or "
        "client address. Try again in 10 seconds."
    )
    assert limit_headers(reads[1]) == {
        "ratelimit-limit": "2",
        "ratelimit-remaining": "0",
        "ratelimit-reset": "10",
    }
    assert head.status_code == 429
    assert (write.status_code, limit_headers(write)) == (401, {})
    assert (health.status_code, limit_headers(health)) == (200, {})
    assert (options.status_code, limit_headers(options)) == (200, {})


def test_a_token_is_keyed_by_its_digest_and_never_held() -> None:
    secret = "pkapi_not-a-real-token"
    scope = {
        "headers": [(b"authorization", f"Bearer {secret}".encode())],
        "client": ("127.0.0.1", 1),
    }
    digest = hashlib.sha256(secret.encode()).hexdigest()

    assert client_key(scope) == f"token:{digest}"
    assert client_key({"headers": [], "client": ("192.0.2.1", 1)}) == (
        "address:192.0.2.1"
    )
    assert client_key(
        {"headers": [(b"authorization", b"Basic eA==")], "client": None}
    ) == ("address:unknown")


def test_the_defaults_limit_writes_only() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert (settings.rate_limit_writes, settings.rate_limit_reads) == ("120/minute", "")
    assert str(settings.write_rate) == "120 per 1 minute"
    assert settings.read_rate is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "lots",
            "'lots' is not a rate such as 120/minute (a count, then second, minute, hour or day), or empty for none",
        ),
        (
            "120/fortnight",
            "'120/fortnight' is not a rate such as 120/minute (a count, then second, minute, hour or day), or empty for none",
        ),
        ("0/minute", "'0/minute' allows nothing; leave it empty to turn the limit off"),
        (
            "10/second;120/minute",
            "'10/second;120/minute' gives 2 rates; give one, such as 120/minute",
        ),
    ],
)
def test_a_bad_rate_fails_settings_validation_naming_it(
    value: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=None, rate_limit_reads=value)  # type: ignore[call-arg]

    [error] = caught.value.errors()
    assert error["loc"] == ("rate_limit_reads",)
    assert error["msg"] == f"Value error, {message}"
