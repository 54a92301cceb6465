"""Keep the documentation pages (Swagger UI, ReDoc) to this service's own assets.

The assets are served locally (fastapi-offline), but ReDoc's bundle still
asks a CDN for the logo in its "API docs by Redocly" footer. A
Content-Security-Policy on the pages makes the browser load nothing from
anywhere but this service, so the docs behave the same on a closed network
and tell nobody that they were opened. Inline scripts and styles stay
allowed: Swagger UI's page starts it with one, and both style inline.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})

POLICY = (
    "default-src 'self'; "
    "script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "font-src 'self' data:; "
    "worker-src 'self' blob:; "
    "connect-src 'self'; "
    "frame-ancestors 'self'"
)


class DocsPolicyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in DOCS_PATHS:
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    *message.get("headers", []),
                    (b"content-security-policy", POLICY.encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_policy)
