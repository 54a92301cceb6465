"""The service's errors and the one place they are rendered.

    ApiError                    any answer that is not a success
    ├── NotFound                404, "Not found." as Django Packages says it
    ├── Unauthorized            401, with a WWW-Authenticate challenge
    ├── Forbidden               403, the token lacks the scope the operation needs
    ├── Conflict                409, another package already holds a unique value
    ├── PreconditionFailed      412, If-Match names a version that is not current
    ├── UnsupportedMediaType    415 (app/api/body.py), the body is not JSON
    └── InvalidFields           422, one entry per offending field

A database that cannot be reached answers 503 with Retry-After; a bug
answers 500 without telling the client anything about it.

Every error body is an RFC 9457 problem details object, sent as
`application/problem+json`:

    {"type": "https://www.rfc-editor.org/rfc/rfc9110#section-15.5.5",
     "title": "Not Found", "status": 404, "detail": "Not found.",
     "instance": "/api/v4/packages/999/"}

`type` names the section of the HTTP standard that defines the status (as
ASP.NET Core does), `title` is the status's reason phrase, `detail` says
what went wrong with this request, and `instance` is the path asked for.
A 422 also carries `errors`: one `{"loc", "msg", "type"}` entry per
offending field, in the shape FastAPI uses for request validation, so
clients handle one format whether the schema or a rule found the fault.

No library renders these. `fastapi-problem` and `fastapi-problem-details`
both install a catch-all handler that puts the text of any unexpected
exception into `detail` (which can leak SQL or paths to clients) and
document errors generically (4XX/5XX, or one "default" answer) rather than
per operation; `rfc9457` alone is an exception class with a `marshal`
method. The `Problem` models below are both the rendering and the
OpenAPI schema, which none of them gives.
"""

from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.redaction import redact_tokens

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"

# Each status's RFC 9110 reason phrase (Python's own table changes between
# versions: 422 is "Unprocessable Entity" before 3.13) and the section that
# defines it, which is the `type` of its problems.
_RFC9110 = "https://www.rfc-editor.org/rfc/rfc9110#section-"
_STATUSES = {
    400: ("Bad Request", "15.5.1"),
    401: ("Unauthorized", "15.5.2"),
    403: ("Forbidden", "15.5.4"),
    404: ("Not Found", "15.5.5"),
    405: ("Method Not Allowed", "15.5.6"),
    406: ("Not Acceptable", "15.5.7"),
    409: ("Conflict", "15.5.10"),
    412: ("Precondition Failed", "15.5.13"),
    413: ("Content Too Large", "15.5.14"),
    415: ("Unsupported Media Type", "15.5.16"),
    422: ("Unprocessable Content", "15.5.21"),
    500: ("Internal Server Error", "15.6.1"),
    503: ("Service Unavailable", "15.6.4"),
}


def problem_type(status: int) -> str:
    if status == 429:
        return "https://www.rfc-editor.org/rfc/rfc6585#section-4"
    known = _STATUSES.get(status)
    return f"{_RFC9110}{known[1]}" if known else "about:blank"


def problem_title(status: int) -> str:
    known = _STATUSES.get(status)
    return known[0] if known else HTTPStatus(status).phrase


class FieldError(BaseModel):
    loc: list[str | int] = Field(
        description='Where the fault is: "body", "query" or "path", then the field name (and an index in a list).'
    )
    msg: str = Field(description="What is wrong with it.")
    type: str = Field(description="A stable code for the kind of fault.")


class Problem(BaseModel):
    """An RFC 9457 problem details object: what went wrong with this request."""

    type: str = Field(
        description="A URI naming the kind of problem: the section of the HTTP standard that defines the status.",
        json_schema_extra={"format": "uri"},
    )
    title: str = Field(description="The status's reason phrase.")
    status: int = Field(ge=400, le=599, description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request.")
    instance: str = Field(
        description="The path that was asked for.",
        json_schema_extra={"format": "uri-reference"},
    )


class ValidationProblem(Problem):
    """A problem with the request's fields: one entry in `errors` per fault."""

    errors: list[FieldError]


class ApiError(Exception):
    status_code = 400
    detail = "Bad request."
    headers: dict[str, str] | None = None

    def __init__(
        self, detail: str | None = None, headers: dict[str, str] | None = None
    ):
        if detail is not None:
            self.detail = detail
        if headers is not None:
            self.headers = headers
        super().__init__(self.detail)


class NotFound(ApiError):
    status_code = 404
    detail = "Not found."


class Unauthorized(ApiError):
    status_code = 401
    detail = "Authentication credentials were not provided."


class Forbidden(ApiError):
    status_code = 403
    detail = "The token does not allow this operation."


class Conflict(ApiError):
    status_code = 409


class PreconditionFailed(ApiError):
    status_code = 412


class InvalidFields(ApiError):
    status_code = 422

    def __init__(self, errors: list[dict[str, Any]]):
        self.errors = errors
        super().__init__(_summary(errors))


def field_error(field: str, message: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": ["body", field], "msg": message, "type": kind}


def _summary(errors: list[dict[str, Any]]) -> str:
    """One sentence naming each offending field, such as `body.slug`."""
    places = []
    for error in errors:
        place = ".".join(str(part) for part in error["loc"])
        if place not in places:
            places.append(place)
    return f"Invalid input: {', '.join(places)}." if places else "Invalid input."


def problem(
    status: int, detail: str, instance: str, **extensions: Any
) -> dict[str, Any]:
    """The problem details body for `status`, with no token of the request in it."""
    if "errors" in extensions:
        extensions["errors"] = [_redacted_error(e) for e in extensions["errors"]]
    return {
        "type": problem_type(status),
        "title": problem_title(status),
        "status": status,
        "detail": redact_tokens(detail),
        "instance": redact_tokens(instance),
        **extensions,
    }


def _redacted_error(error: dict[str, Any]) -> dict[str, Any]:
    return {
        **error,
        "loc": [
            redact_tokens(part) if isinstance(part, str) else part
            for part in error["loc"]
        ],
        "msg": redact_tokens(error["msg"]),
    }


def instance_of(path: str) -> str:
    """The path asked for, percent-encoded again: `instance` is a URI reference."""
    return quote(path, safe="/:@!$&'()*+,;=-._~")


def problem_response(
    request: Request,
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    return JSONResponse(
        problem(status, detail, instance_of(request.url.path), **extensions),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_JSON,
    )


def _clean_validation_errors(errors: Any) -> list[dict[str, Any]]:
    # Only where, what and which kind: the input itself may be large or secret.
    return [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        for error in errors
    ]


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    extensions = {"errors": exc.errors} if isinstance(exc, InvalidFields) else {}
    return problem_response(
        request, exc.status_code, exc.detail, exc.headers, **extensions
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return problem_response(request, 404, NotFound.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        from app.api.methods import allowed_methods

        headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
        return problem_response(
            request, 405, f'Method "{request.method}" not allowed.', headers
        )
    detail = str(exc.detail)
    if exc.status_code == 400 and detail == _FASTAPI_UNREADABLE_BODY:
        from app.api.body import unreadable_body  # body.py builds on this module

        # The request FastAPI read the body of: its body is kept, not read again.
        return await _api_error(request, unreadable_body(await request.body()))
    return problem_response(request, exc.status_code, detail, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _clean_validation_errors(exc.errors())
    return problem_response(request, 422, _summary(errors), errors=errors)


# What FastAPI says of a body it fails to parse for any reason but a JSON
# syntax error (not UTF-8, nested past the parser's depth, a number Python
# will not read); app.api.body says which. Malformed JSON text is a 422.
_FASTAPI_UNREADABLE_BODY = "There was an error parsing the body"
UNREADABLE_BODY = "The body cannot be read as JSON: send UTF-8 text."

UNAVAILABLE = "The database is unavailable; try again shortly."


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DBAPIError) and not _is_outage(exc):
        return await _unexpected(request, exc)  # a bug, not an outage
    log.warning("database.unavailable", error=type(exc).__name__)
    return problem_response(request, 503, UNAVAILABLE, {"Retry-After": "5"})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("request.failed", path=request.url.path)
    return problem_response(
        request, 500, "Something went wrong on our side; it has been logged."
    )


def _is_outage(exc: DBAPIError) -> bool:
    """Whether the database went away, rather than refused a statement.

    A server shutting down cuts connections in the middle of a statement;
    the driver's error for that varies (asyncpg's "terminating connection
    due to administrator command" arrives as an InternalError), but
    SQLAlchemy marks every error that lost the connection as such, and
    one that never got a connection carries the server's SQLSTATE.
    """
    if exc.connection_invalidated or isinstance(
        exc, (OperationalError, InterfaceError)
    ):
        return True
    # SQLSTATE classes: 08 connection exception, 53 insufficient resources
    # (too many connections), 57 operator intervention (shutting down,
    # starting up: "cannot connect now").
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(code, str) and code[:2] in ("08", "53", "57")


class UnexpectedErrors:
    """Turns an exception no handler took into the 500 problem, in here.

    Starlette answers such exceptions from its outermost layer, outside
    every middleware of the app, so that answer would carry no security
    headers and no request id. Caught innermost, it goes out like any other.
    An answer already under way cannot be replaced: then the exception
    goes on up.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def noting(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, noting)
        except Exception as exc:
            if started:
                raise
            answer = await _unexpected(Request(scope, receive), exc)
            await answer(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    # A lost or refused database connection is an outage, not the client's
    # fault and not a bug: 503, and the pool reconnects on a later request.
    for error in (DBAPIError, ConnectionError):
        app.add_exception_handler(error, _database_unavailable)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
