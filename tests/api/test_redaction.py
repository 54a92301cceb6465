"""A token a client puts in a path, query or body is never repeated back."""

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.tokens import TOKEN_PREFIX
from app.logging import redact_secrets
from app.redaction import redact_tokens
from tests.factories import make_category, make_package

SECRET = "pkapi_Zm9vYmFyYmF6cXV4LXNlY3JldC10b2tlbi0xMjM0NTY"


def test_the_prefix_is_the_one_tokens_are_made_with() -> None:
    assert TOKEN_PREFIX == "pkapi_"
    assert redact_tokens(f"/api/v4/packages/{SECRET}/?x=1") == (
        "/api/v4/packages/[redacted]/?x=1"
    )
    assert redact_tokens("no token here") == "no token here"


async def test_a_404_does_not_echo_a_token_in_its_path(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"/api/v4/packages/{SECRET}/")

    assert response.status_code == 404
    assert response.json()["instance"] == "/api/v4/packages/[redacted]/"


async def test_a_422_does_not_echo_a_token_sent_as_a_key_or_a_value(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    auth: dict[str, str],
) -> None:
    await make_category(sessionmaker)
    await make_package(sessionmaker, id=5, slug="five")

    as_key = await client.patch("/api/v4/packages/5/", json={SECRET: 1}, headers=auth)

    assert as_key.status_code == 422
    assert as_key.json()["detail"] == "Invalid input: body.[redacted]."
    assert [e["loc"] for e in as_key.json()["errors"]] == [["body", "[redacted]"]]


async def test_the_browsable_page_does_not_show_a_token_in_the_query(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"/api/v4/?format=api&token={SECRET}")

    assert response.status_code == 200
    assert SECRET not in response.text
    assert "/api/v4/?format=api&amp;token=[redacted]" in response.text


def test_log_fields_that_carry_a_token_are_redacted() -> None:
    event = {"event": "request.finished", "path": f"/api/v4/packages/{SECRET}/"}

    assert redact_secrets(None, "info", event) == {
        "event": "request.finished",
        "path": "/api/v4/packages/[redacted]/",
    }
