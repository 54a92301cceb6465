"""Checks on write request bodies that FastAPI's own parsing does not make.

A body must say it is JSON (`application/json`, or a `+json` type such as
`application/merge-patch+json`), else 415 names the accepted types. A JSON
object with a key twice is refused: which value the client meant is a guess.
A body larger than `MAX_BODY_BYTES` is a 413, refused before it is read
whole: by its Content-Length when it has one, else as it streams in. A
body that is not UTF-8, or nests deeper than `MAX_DEPTH`, is a 400.
"""

import json
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PROBLEM_JSON, ApiError, InvalidFields, instance_of, problem

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


def _too_deep(value: Any) -> bool:
    """Whether arrays and objects nest deeper than MAX_DEPTH, walked without
    recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values()
            if isinstance(item, dict)
            else item
            if isinstance(item, list)
            else ()
        )
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > MAX_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


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
        document = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise InvalidFields(
            [
                {
                    "loc": ["body", exc.key],
                    "msg": "key appears twice",
                    "type": "duplicate_key",
                }
            ]
        ) from exc
    except (ValueError, RecursionError):
        return  # malformed JSON is reported by the body's own validation
    if _too_deep(document):
        raise UnreadableBody(
            f"The body's JSON nests arrays and objects deeper than {MAX_DEPTH} levels."
        )


JsonBody = Annotated[None, Depends(_check_json_body)]


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
