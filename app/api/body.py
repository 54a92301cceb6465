"""Checks on write request bodies that FastAPI's own parsing does not make.

A body must say it is JSON (`application/json`, or a `+json` type such as
`application/merge-patch+json`), else 415 names the accepted types. A JSON
object with a key twice is refused: which value the client meant is a guess.
"""

import json
from typing import Annotated, Any

from fastapi import Depends, Request

from app.errors import ApiError, InvalidFields

ACCEPTED_TYPES = ("application/json", "application/merge-patch+json")


class UnsupportedMediaType(ApiError):
    status_code = 415
    detail = (
        "Send the body as JSON, with Content-Type application/json or "
        "application/merge-patch+json."
    )


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
        json.loads(await request.body(), object_pairs_hook=_unique_keys)
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


JsonBody = Annotated[None, Depends(_check_json_body)]
