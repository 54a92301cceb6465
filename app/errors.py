"""The service's errors and the one place they are rendered.

    ApiError                 any answer that is not a success
    ├── NotFound             404, {"detail": "Not found."} as Django Packages says it
    ├── Unauthorized         401, with a WWW-Authenticate challenge
    ├── Conflict             409, another package already holds a unique value
    └── InvalidFields        422, one entry per offending field

A database that cannot be reached answers 503 with Retry-After.

Every error body is JSON with a `detail` key: a sentence, or for 422 a list
of `{"loc", "msg", "type"}` entries in the same shape FastAPI uses for
request validation, so clients handle one format.
"""

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)


class ApiError(Exception):
    status_code = 400
    detail: Any = "Bad request."
    headers: dict[str, str] | None = None

    def __init__(self, detail: Any = None, headers: dict[str, str] | None = None):
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


class Conflict(ApiError):
    status_code = 409


class InvalidFields(ApiError):
    status_code = 422

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__(errors)


def field_error(field: str, message: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": ["body", field], "msg": message, "type": kind}


def _clean_validation_errors(errors: Any) -> list[dict[str, Any]]:
    cleaned = []
    for error in errors:
        entry = {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
        cleaned.append(entry)
    return cleaned


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return JSONResponse({"detail": NotFound.detail}, status_code=404)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        from app.api.methods import allowed_methods

        headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
        return JSONResponse(
            {"detail": f'Method "{request.method}" not allowed.'},
            status_code=405,
            headers=headers,
        )
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=headers
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        {"detail": _clean_validation_errors(exc.errors())}, status_code=422
    )


_UNAVAILABLE = "The database is unavailable; try again shortly."


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DBAPIError) and not _is_outage(exc):
        raise exc  # a bug, not an outage: a 500 with its traceback logged
    log.warning("database.unavailable", error=type(exc).__name__)
    return JSONResponse(
        {"detail": _UNAVAILABLE}, status_code=503, headers={"Retry-After": "5"}
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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    # A lost or refused database connection is an outage, not the client's
    # fault and not a bug: 503, and the pool reconnects on a later request.
    for error in (DBAPIError, ConnectionError):
        app.add_exception_handler(error, _database_unavailable)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
