"""Render API answers as HTML pages, like Django REST Framework's browsable API.

A GET under /api/v4/ with `?format=api`, or from a client that prefers
text/html to JSON (a browser), gets a page with the endpoint's name and
description, the request line, the answer's status and headers, and its
JSON pretty-printed with every http(s) URL a link. The API's own links
already carry `?format=api` when the request did (`app.api.links`), so
following them stays in the browsable API. `?format=json` and every other
client get the JSON as it is. Every GET answer says `Vary: Accept`.

The JSON is rendered by the route as usual; this middleware only turns the
finished answer into a page, so the page never differs from what an API
client would have been sent.
"""

import html
import json
import re
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from fastapi import FastAPI
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.methods import API_PREFIX
from app.redaction import redact_tokens

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_JSON_TYPES = ("application/json", "application/problem+json")
_INDENT = "    "


def wants_html(query_string: bytes, accept: str) -> bool:
    """Whether the request asks for the HTML page rather than the JSON."""
    formats = [
        value
        for key, value in parse_qsl(query_string.decode("latin-1"))
        if key == "format"
    ]
    if formats:
        return formats[-1] == "api"
    return prefers_html(accept)


def prefers_html(accept: str) -> bool:
    """Whether an Accept header ranks text/html above JSON.

    text/html must be named; JSON's rank is the best of application/json,
    application/* and */*. A tie goes to JSON, so a client that takes
    either keeps getting what it always got.
    """
    html = json_rank = 0.0
    for entry in accept.split(","):
        media, _, params = entry.strip().partition(";")
        media = media.strip().lower()
        quality = _quality(params)
        if media == "text/html":
            html = max(html, quality)
        elif media in ("application/json", "application/*", "*/*"):
            json_rank = max(json_rank, quality)
    return html > json_rank


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def render_json(value: Any, depth: int = 0) -> Markup:
    """`value` as indented JSON, escaped for HTML, with http(s) URLs as links."""
    pad = _INDENT * (depth + 1)
    if isinstance(value, dict):
        if not value:
            return Markup("{}")
        items = [
            Markup("{}{}: {}").format(
                pad,
                _text(json.dumps(key, ensure_ascii=False)),
                render_json(item, depth + 1),
            )
            for key, item in value.items()
        ]
        return (
            Markup("{\n")
            + Markup(",\n").join(items)
            + Markup("\n{}}}").format(_INDENT * depth)
        )
    if isinstance(value, list):
        if not value:
            return Markup("[]")
        items = [
            Markup("{}{}").format(pad, render_json(item, depth + 1)) for item in value
        ]
        return (
            Markup("[\n")
            + Markup(",\n").join(items)
            + Markup("\n{}]").format(_INDENT * depth)
        )
    text = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and _is_link(value):
        return Markup('"<a href="{}" rel="nofollow">{}</a>"').format(
            value, _text(text[1:-1])
        )
    return _text(text)


def _text(text: str) -> Markup:
    """`text` escaped for an element's content (quotes need no escaping there)."""
    return Markup(html.escape(text, quote=False))


def _is_link(text: str) -> bool:
    if any(char.isspace() for char in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class BrowsableApiMiddleware:
    def __init__(self, app: ASGIApp, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self._operations: list[tuple[re.Pattern[str], str, str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or not scope["path"].startswith(API_PREFIX)
        ):
            await self.app(scope, receive, send)
            return

        headers = dict(scope["headers"])
        accept = headers.get(b"accept", b"").decode("latin-1")
        if scope["method"] == "GET" and wants_html(scope["query_string"], accept):
            scope = {**scope, "headers": _as_json_request(scope["headers"])}
            await self.app(scope, receive, self._as_page(scope, send))
        else:
            await self.app(scope, receive, _varying(send))

    def _as_page(self, scope: Scope, send: Send) -> Send:
        start: Message | None = None
        chunks: list[bytes] = []

        async def send_page(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                if start["status"] == 304:  # it stands for the page
                    start = {**start, "headers": _page_etag(start["headers"])}
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            page = self._page(scope, start, body)
            if page is None:
                await _varying(send)(start)
                await send({"type": "http.response.body", "body": body})
                return
            html = page.encode()
            kept = [
                (name, value)
                for name, value in _page_etag(start.get("headers", []))
                if name.lower() not in (b"content-type", b"content-length")
            ]
            await _varying(send)(
                {
                    **start,
                    "headers": [
                        *kept,
                        (b"content-type", b"text/html; charset=utf-8"),
                        (b"content-length", str(len(html)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": html})

        return send_page

    def _page(self, scope: Scope, start: Message, body: bytes) -> str | None:
        """The HTML page for a JSON answer; None for any other answer."""
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in start.get("headers", [])
        ]
        content_type = next(
            (value for name, value in headers if name.lower() == "content-type"), ""
        )
        if content_type.split(";")[0].strip().lower() not in _JSON_TYPES:
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return None

        status = start["status"]
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        name, description = self._describe(scope)
        query = scope["query_string"].decode("latin-1")
        path = scope["path"]
        shown = [
            (_title_case(key), value)
            for key, value in headers
            if key.lower() != "content-length"
        ]
        if not any(key.lower() == "vary" for key, _ in headers):
            shown.append(("Vary", "Accept"))
        return _TEMPLATES.get_template("page.html").render(
            name=name,
            description=description,
            method=scope["method"],
            target=redact_tokens(f"{path}?{unquote(query)}" if query else path),
            status=status,
            reason=reason,
            headers=shown,
            body=render_json(data),
            json_url=redact_tokens(f"{path}?{_with_format(query, 'json')}"),
            root=f"{API_PREFIX}/?format=api",
        )

    def _describe(self, scope: Scope) -> tuple[str, list[str]]:
        """The endpoint's summary and description, as its OpenAPI document says."""
        if self._operations is None:
            self._operations = _get_operations(self.fastapi_app.openapi())
        path = scope["path"] if scope["path"].endswith("/") else scope["path"] + "/"
        for pattern, summary, description in self._operations:
            if pattern.fullmatch(path):
                paragraphs = [
                    " ".join(paragraph.split())
                    for paragraph in description.split("\n\n")
                    if paragraph.strip()
                ]
                return summary, paragraphs
        return "Not found", []


def _get_operations(
    document: dict[str, Any],
) -> list[tuple[re.Pattern[str], str, str]]:
    """Each GET operation's path as a pattern, with its summary and description."""
    operations = []
    for template, methods in document.get("paths", {}).items():
        get = methods.get("get")
        if get is None:
            continue
        pattern = re.compile(
            "".join(
                "[^/]+" if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{[^}]+\})", template)
            )
        )
        operations.append((pattern, get.get("summary", ""), get.get("description", "")))
    return operations


# The page and the JSON are two representations of one resource, so each
# has its own entity tag (RFC 9110 8.8.3): the page's is the JSON's, marked.
_PAGE_MARK = b'-html"'
# Stands in for If-None-Match tags that name no page: it matches nothing.
_NO_PAGE = b'"not-a-page"'


def _as_json_request(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """A page request's headers as the JSON routes take them: the page tags
    of If-None-Match unmarked, and any other tag unable to match."""
    headers = []
    for name, value in raw:
        if name.lower() == b"if-none-match":
            tags = [tag.strip() for tag in value.split(b",") if tag.strip()]
            pages = [
                tag[: -len(_PAGE_MARK)] + b'"'
                for tag in tags
                if tag.endswith(_PAGE_MARK)
            ]
            value = b"*" if b"*" in tags else b", ".join(pages) or _NO_PAGE
        headers.append((name, value))
    return headers


def _page_etag(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """An answer's headers with its ETag marked as the page's."""
    return [
        (name, value[:-1] + _PAGE_MARK)
        if name.lower() == b"etag" and value.endswith(b'"')
        else (name, value)
        for name, value in raw
    ]


def _varying(send: Send) -> Send:
    """Add Accept to the answer's Vary header: its form depends on it."""

    async def send_varying(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            for index, (name, value) in enumerate(headers):
                if name.lower() == b"vary":
                    if b"accept" not in [
                        part.strip().lower() for part in value.split(b",")
                    ]:
                        headers[index] = (name, value + b", Accept")
                    break
            else:
                headers.append((b"vary", b"Accept"))
            message = {**message, "headers": headers}
        await send(message)

    return send_varying


def _with_format(query: str, value: str) -> str:
    kept = [(key, item) for key, item in parse_qsl(query) if key != "format"]
    return urlencode([*kept, ("format", value)])


def _title_case(name: str) -> str:
    special = {"etag": "ETag", "www-authenticate": "WWW-Authenticate"}
    lowered = name.lower()
    return special.get(lowered) or "-".join(
        part.capitalize() for part in lowered.split("-")
    )
