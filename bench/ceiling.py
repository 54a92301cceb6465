"""The ceiling of bench/reads.py: a bare ASGI app replaying captured answers.

Run by uvicorn with as many workers as the server under test
(`uvicorn ceiling:app --app-dir bench --workers N`). It reads the file named
by BENCH_CEILING_RESPONSES: a JSON list of the answers the real server gave,
each with the path and query it was asked, whether If-None-Match was sent,
its status, its headers and its body (base64). It answers each request with
those exact bytes, looked up by path, query and If-None-Match, and does
nothing else: no routing, no database, no middleware. Whatever our server
spends beyond that is the cost of the service itself. `/_ready` answers 200
once the answers are loaded; anything not captured is a 404.
"""

import base64
import json
import os
from pathlib import Path
from typing import Any

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


def load(path: Path) -> dict[tuple[str, bool], Answer]:
    table: dict[tuple[str, bool], Answer] = {}
    for one in json.loads(path.read_text()):
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in one["headers"]
        ]
        body = base64.b64decode(one["body"])
        table[(one["target"], one["if_none_match"])] = (one["status"], headers, body)
    return table


ANSWERS = load(Path(os.environ["BENCH_CEILING_RESPONSES"]))
READY: Answer = (200, [(b"content-type", b"text/plain")], b"ready")
MISSING: Answer = (404, [(b"content-type", b"text/plain")], b"not captured")


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    target = scope["path"]
    if scope["query_string"]:
        target += "?" + scope["query_string"].decode("latin-1")
    conditional = any(name == b"if-none-match" for name, _ in scope["headers"])
    if target == "/_ready":
        status, headers, body = READY
    else:
        status, headers, body = ANSWERS.get((target, conditional), MISSING)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
