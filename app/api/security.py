"""Security headers on every answer, chosen once and added as bytes.

Every answer, whoever made it (a route, a problem, a 304, a docs page, the
browsable HTML, /metrics, a CORS preflight, a 429), gets:

- `X-Content-Type-Options: nosniff`, so a browser never runs JSON or text
  as a script or a page;
- `Referrer-Policy: no-referrer`: a link followed from the docs or the
  browsable pages tells the next site nothing;
- `X-Frame-Options: DENY` and CSP `frame-ancestors 'none'`: no page of the
  service may be framed (clickjacking);
- `Cross-Origin-Resource-Policy: same-origin`: other sites cannot load the
  answers as images or scripts (CORS requests, when allowed, are not
  affected);
- `Strict-Transport-Security` when the request came over https (after
  trusted proxy headers), never over plain http, where it means nothing.

The Content-Security-Policy depends on what the answer is. The API's own
answers are data, never pages: `default-src 'none'; frame-ancestors 'none'`
lets a browser that opens one load and run nothing. Swagger UI and ReDoc
(`/docs`, `/redoc`) load their scripts, styles and icon from this service
only (fastapi-offline); their policy lets the browser load nothing from
anywhere else (ReDoc's bundle would otherwise fetch its footer logo from a
CDN), while inline scripts and styles stay allowed because Swagger UI's page
starts it with one and both style inline. The browsable API's HTML page has
one inline stylesheet and no script, and gets exactly that.

This is a small pure ASGI middleware rather than the `secure` library: the
policy is chosen per answer (path and content type), and `secure` sets
headers on a framework's response objects, which a pure ASGI middleware
never builds; the headers themselves are constants.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})

API_POLICY = "default-src 'none'; frame-ancestors 'none'"
DOCS_POLICY = (
    "default-src 'self'; "
    "script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "font-src 'self' data:; "
    "worker-src 'self' blob:; "
    "connect-src 'self'; "
    "base-uri 'self'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)
PAGE_POLICY = (
    "default-src 'none'; "
    "style-src 'unsafe-inline'; "
    "img-src 'self' data:; "
    "base-uri 'none'; "
    "form-action 'none'; "
    "frame-ancestors 'none'"
)
HSTS = "max-age=31536000"

_Headers = list[tuple[bytes, bytes]]

_COMMON: _Headers = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def _with_policy(policy: str) -> _Headers:
    return [*_COMMON, (b"content-security-policy", policy.encode())]


_API = _with_policy(API_POLICY)
_DOCS = _with_policy(DOCS_POLICY)
_PAGE = _with_policy(PAGE_POLICY)
_HSTS = (b"strict-transport-security", HSTS.encode())


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"] in DOCS_PATHS
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: _Headers = list(message.get("headers", []))
                if docs:
                    added = _DOCS
                elif _is_html(headers):
                    added = _PAGE
                else:
                    added = _API
                headers.extend(added)
                if https:
                    headers.append(_HSTS)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_html(headers: _Headers) -> bool:
    return any(
        name.lower() == b"content-type" and value.startswith(b"text/html")
        for name, value in headers
    )
