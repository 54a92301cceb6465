"""What a browser page on an allowed origin (CORS_ALLOW_ORIGINS) may do.

Starlette's CORSMiddleware does the work; it is installed only when origins
are configured, so by default no answer carries a CORS header. Tokens go in
the Authorization header, never in cookies, so credentials mode stays off.
A refused preflight is a 400 problem that says what was refused, like every
other error of the service.
"""

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from app.errors import PROBLEM_JSON, instance_of, problem

CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "If-Unmodified-Since",
    "X-Request-ID",
]
CORS_EXPOSED_HEADERS = [
    "ETag",
    "Last-Modified",
    "Location",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "X-Request-ID",
]


class ProblemCORSMiddleware(CORSMiddleware):
    """CORS whose refused preflights answer problem details, not plain text."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" else None
        if (
            headers is None
            or scope["method"] != "OPTIONS"
            or "origin" not in headers
            or "access-control-request-method" not in headers
        ):
            await super().__call__(scope, receive, send)
            return

        answer = self.preflight_response(request_headers=headers)
        if answer.status_code == 400:
            # Starlette says "Disallowed CORS origin, headers" and the like.
            refused = bytes(answer.body).decode().removeprefix("Disallowed CORS ")
            answer = JSONResponse(
                problem(
                    400,
                    f"This cross-origin request is not allowed: its {refused} "
                    "(see CORS_ALLOW_ORIGINS).",
                    instance_of(scope["path"]),
                ),
                status_code=400,
                headers={
                    name: value
                    for name, value in answer.headers.items()
                    if name not in ("content-length", "content-type")
                },
                media_type=PROBLEM_JSON,
            )
        await answer(scope, receive, send)
