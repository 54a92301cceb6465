"""Checks on write request bodies that FastAPI's own parsing does not make.

A body must say it is JSON (`application/json`, or a `+json` type such as
`application/merge-patch+json`), else 415 names the accepted types. A JSON
object with a key twice is refused: which value the client meant is a guess.
A body larger than `MAX_BODY_BYTES` is a 413, refused before it is read
whole: by its Content-Length when it has one, else as it streams in. A
body that is not UTF-8, or nests deeper than `MAX_DEPTH`, is a 400. A
number with more digits than Python turns into an int is a 422 naming its
field.

FastAPI parses the body before any dependency runs, and answers a body it
cannot parse with one vague 400; `unreadable_body` says what is wrong.
"""

import json
from typing import Annotated

from fastapi import Depends, Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import strict_json
from app.errors import (
    PROBLEM_JSON,
    UNREADABLE_BODY,
    ApiError,
    InvalidFields,
    instance_of,
    problem,
)

# A package's JSON is a few kilobytes; this leaves room and no more.
MAX_BODY_BYTES = 64 * 1024
_TOO_LARGE = f"The body is larger than {MAX_BODY_BYTES} bytes."

ACCEPTED_TYPES = ("application/json", "application/merge-patch+json")


class UnsupportedMediaType(ApiError):
    status_code = 415
    detail = (
        "Send the body as JSON, with Content-Type application/json or "
        "application/merge-patch+json."
    )


class UnreadableBody(ApiError):
    status_code = 400


# Deeper than any document this service takes, and far from the depth at
# which walking the value recursively would fail.
MAX_DEPTH = 32
_TOO_DEEP = f"The body's JSON nests arrays and objects deeper than {MAX_DEPTH} levels."


async def _check_json_body(request: Request) -> None:
    media_type = (
        request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    )
    if media_type not in ACCEPTED_TYPES and not media_type.endswith("+json"):
        raise UnsupportedMediaType()
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableBody("The body is not UTF-8 text.") from exc
    try:
        document = strict_json.loads(text)
    except (ValueError, RecursionError):
        return  # malformed JSON is reported by the body's own validation
    if (fault := strict_json.first_fault(document, MAX_DEPTH)) is not None:
        raise _refusal(fault)


def _refusal(fault: strict_json.Fault) -> ApiError:
    """Too deep is a body that cannot be read (400); the rest name a field."""
    if fault.kind == "too_deep":
        return UnreadableBody(_TOO_DEEP)
    return InvalidFields(
        [{"loc": ["body", *fault.path], "msg": fault.message, "type": fault.kind}]
    )


JsonBody = Annotated[None, Depends(_check_json_body)]


def unreadable_body(body: bytes) -> ApiError:
    """What is wrong with a body that FastAPI could not parse as JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return UnreadableBody("The body is not UTF-8 text.")
    try:
        fault = strict_json.first_fault(strict_json.loads(text), MAX_DEPTH)
    except RecursionError:
        return UnreadableBody(_TOO_DEEP)
    except ValueError:
        fault = None
    return UnreadableBody(UNREADABLE_BODY) if fault is None else _refusal(fault)


class BodySizeLimit:
    """Refuses request bodies over `MAX_BODY_BYTES` with a 413 problem."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await self._refuse(scope, send)
            return

        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                # FastAPI lets an HTTPException from reading the body through
                # to the error handlers, which render it as a problem.
                raise HTTPException(413, _TOO_LARGE)
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        payload = json.dumps(problem(413, _TOO_LARGE, instance_of(scope["path"])))
        body = payload.encode()
        headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
