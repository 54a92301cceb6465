"""Logs: a request id per request, JSON lines in production, no secrets ever."""

import io
import json
import logging
from pathlib import Path

import httpx
import pytest
import structlog
from asgi_correlation_id import correlation_id
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.tokens import create_token
from app.logging import configure_logging
from tests.factories import make_category, make_package
from tests.live import live_server

GITHUB_SECRET = "ghp_live_server_secret_0123456789abcdef"
REQUEST_ID = "0f6c1a7e2b3d4c5e8f9a0b1c2d3e4f50"


async def test_a_real_server_logs_json_lines_with_request_ids_and_no_secrets(
    database_url: str,
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await make_category(sessionmaker)
    await make_package(sessionmaker, id=5, slug="five")
    async with sessionmaker() as session:
        token = await create_token(session, "logs")
        await session.commit()

    with live_server(
        database_url, tmp_path, LOG_FORMAT="json", GITHUB_TOKEN=GITHUB_SECRET
    ) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            patched = await client.patch(
                "/api/v4/packages/five/",
                json={"title": "Five"},
                headers={
                    "Authorization": f"Bearer {token}",
                    "X-Request-ID": REQUEST_ID,
                },
            )
            read = await client.get("/api/v4/packages/5/?token=" + token)
    lines = [json.loads(line) for line in server.log().splitlines()]

    assert patched.status_code == 200
    assert patched.headers["x-request-id"] == REQUEST_ID
    generated = read.headers["x-request-id"]
    assert len(generated) == 32 and generated != REQUEST_ID
    finished = [line for line in lines if line["event"] == "request.finished"]
    by_id = {line["request_id"]: line for line in finished}
    assert {
        key: by_id[REQUEST_ID][key]
        for key in ("method", "path", "route", "status", "level")
    } == {
        "method": "PATCH",
        "path": "/api/v4/packages/five/",
        "route": "/api/v4/packages/{package}/",
        "status": 200,
        "level": "info",
    }
    assert by_id[generated]["path"] == "/api/v4/packages/5/"
    assert any(line.get("logger") == "uvicorn.error" for line in lines)
    assert token not in server.log()
    assert GITHUB_SECRET not in server.log()


@pytest.mark.usefixtures("keep_logging_config")
def test_console_lines_are_readable_and_redact_secret_fields() -> None:
    stream = io.StringIO()
    configure_logging("console", "INFO", stream=stream)
    reset = correlation_id.set("abc123")
    try:
        structlog.get_logger("tests").info(
            "thing.happened", count=3, token="s3cret-value", github_token="x"
        )
        structlog.get_logger("tests").debug("too.quiet")
        logging.getLogger("uvicorn.error").info("Started server process")
    finally:
        correlation_id.reset(reset)

    first, second = stream.getvalue().splitlines()
    assert "s3cret-value" not in stream.getvalue()
    assert first.split(" ", 1)[1].split() == [
        "[info",
        "]",
        "thing.happened",
        "count=3",
        "github_token=[redacted]",
        "request_id=abc123",
        "token=[redacted]",
    ]
    assert "Started server process" in second
    assert "[uvicorn.error]" in second


@pytest.mark.usefixtures("keep_logging_config")
def test_json_lines_carry_the_request_id() -> None:
    stream = io.StringIO()
    configure_logging("json", "WARNING", stream=stream)
    reset = correlation_id.set("req-1")
    try:
        structlog.get_logger("tests").warning("fetch.failed", password="hunter2")
        structlog.get_logger("tests").info("too.quiet")
    finally:
        correlation_id.reset(reset)

    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert {key: line[key] for key in ("event", "level", "request_id", "password")} == {
        "event": "fetch.failed",
        "level": "warning",
        "request_id": "req-1",
        "password": "[redacted]",
    }


@pytest.mark.usefixtures("keep_logging_config")
@pytest.mark.parametrize("log_format", ["console", "json"])
def test_a_traceback_that_quotes_a_token_is_redacted(log_format: str) -> None:
    # A database error quotes the parameters it failed on, and a client may
    # have sent a token as a value.
    stream = io.StringIO()
    configure_logging(log_format, "INFO", stream=stream)
    token = "pkapi_" + "Q" * 43
    failure = ValueError(f"value out of range [parameters: (12, '{token}')]")

    try:
        raise failure
    except ValueError:
        structlog.get_logger("tests").exception("request.failed")
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")

    text = stream.getvalue()
    assert token not in text
    assert text.count("[parameters: (12, '[redacted]')]") == 2
