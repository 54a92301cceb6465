"""The OpenAPI document: what operations share, written down once.

Routes say which problems they can answer with (`problems(404, 422)`) and
carry their own operation id (the function's name), summary and
description. Building the document then adds, for every operation alike:
error answers as `application/problem+json` with the problem schemas; the
304, the validators and the cache headers of every GET, with the
conditional headers it takes; the preconditions of every edit; and the
headers that come with 201, 202, 401, 412 and 503. FastAPI's own 422 shape
is dropped, since the service never answers with it.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.errors import PROBLEM_JSON, Problem, ValidationProblem

TAGS = [
    {"name": "root", "description": "Where the resources and the docs are."},
    {
        "name": "packages",
        "description": "The catalogue's packages; edits need a token.",
    },
    {
        "name": "fetches",
        "description": "A package's refresh from its repository and PyPI: how the last one went, and asking for one now.",
    },
    {"name": "categories", "description": "Categories that packages belong to."},
    {"name": "grids", "description": "Comparison grids of packages."},
    {
        "name": "operations",
        "description": "Liveness, readiness and Prometheus metrics, for operators and orchestrators.",
    },
]

_PROBLEMS = {
    400: "The body cannot be read as JSON text at all (not UTF-8, or nested too deep).",
    401: "No token, or an unknown one; WWW-Authenticate says how to send one.",
    403: "The token lacks the scope this operation needs.",
    404: "No such resource.",
    409: "Another package already has this slug or repository.",
    413: "The body is larger than the service accepts (64 KiB).",
    412: "If-Match or If-Unmodified-Since names a version that is no longer current; ETag gives the current one.",
    415: "The body is not sent as JSON.",
    422: "A path, query or body field is invalid; `errors` names each one.",
    429: "Too many requests from this token or client address (RATE_LIMIT_WRITES for writes, RATE_LIMIT_READS for reads, when set); Retry-After says when to try again. Every answer of a limited request carries the RateLimit headers.",
    503: "The database is unavailable; Retry-After says when to try again.",
}


def operation_id(route: APIRoute) -> str:
    """Operation ids are the route functions' names: `list_packages`, ..."""
    return route.name


_WORDED = {403: "forbidden", 404: "not_found", 409: "conflict", 422: "invalid"}


def needs_scope(scope: str) -> str:
    """The 403 of an operation that needs a token with `scope`."""
    if scope == "admin":
        return "The token lacks the `admin` scope, which this operation needs."
    return (
        f"The token lacks the `{scope}` scope (or `admin`), which this operation needs."
    )


def problems(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """The error answers of an operation; `forbidden=`, `not_found=`,
    `conflict=` and `invalid=` word its 403, 404, 409 and 422 for what the
    operation is about."""
    answers: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description = descriptions.get(_WORDED.get(status, ""), _PROBLEMS[status])
        model = ValidationProblem if status == 422 else Problem
        answers[status] = {"model": model, "description": description}
    return answers


def _problem_answer(status: int, schema: str = "Problem") -> dict[str, Any]:
    """A problem answer as the document writes it, for one added after FastAPI."""
    return {
        "description": _PROBLEMS[status],
        "content": {
            PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        },
    }


NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {
        "description": "Not modified: If-None-Match or If-Modified-Since still matches; no body."
    }
}

_STRING = {"type": "string"}
_DATE = {
    "type": "string",
    "description": "An HTTP date, such as `Wed, 21 Oct 2026 07:28:00 GMT`.",
}
_VALIDATOR_HEADERS = {
    "ETag": {
        "description": "The version of this answer; send it back in If-None-Match, or in If-Match to edit.",
        "schema": _STRING,
    },
    "Last-Modified": {
        "description": "When this answer last changed, to the second; left out until that second is over (the ETag tells versions of one second apart).",
        "schema": _DATE,
    },
}
_CACHE_HEADERS = {
    **_VALIDATOR_HEADERS,
    "Cache-Control": {
        "description": "How long shared caches may keep the answer, and serve it stale.",
        "schema": _STRING,
    },
    "Vary": {"description": "`Accept`.", "schema": _STRING},
}
_CONDITIONAL_GET = [
    {
        "name": "If-None-Match",
        "in": "header",
        "required": False,
        "description": "ETags of copies the client holds; a 304 answers if one is current.",
        "schema": _STRING,
    },
    {
        "name": "If-Modified-Since",
        "in": "header",
        "required": False,
        "description": "A 304 answers if nothing changed since then (ignored with If-None-Match).",
        "schema": _DATE,
    },
]
# GETs whose ETag is a digest of the answer itself (see content_validators).
_VALIDATED_BY_CONTENT = ("/api/v4/search/", "/matrix/", "/score/", "/cells/{package}/")
_PRECONDITIONS = [
    {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "description": "The ETag of the version being changed; a 412 answers if it is no longer current. `*` matches any.",
        "schema": _STRING,
    },
    {
        "name": "If-Unmodified-Since",
        "in": "header",
        "required": False,
        "description": "A 412 answers if the package changed after this date (ignored with If-Match).",
        "schema": _DATE,
    },
]
_ANSWER_HEADERS = {
    "201": {
        "Location": {
            "description": "The URL of what was made.",
            "schema": {"type": "string", "format": "uri"},
        }
    },
    "202": {
        "Location": {
            "description": "The package's fetch state.",
            "schema": {"type": "string", "format": "uri"},
        }
    },
    "401": {
        "WWW-Authenticate": {"description": "The Bearer challenge.", "schema": _STRING}
    },
    "412": {"ETag": _VALIDATOR_HEADERS["ETag"]},
    "429": {
        "Retry-After": {
            "description": "Seconds until the window resets.",
            "schema": {"type": "integer"},
        },
        "RateLimit-Limit": {
            "description": "Requests allowed in a window.",
            "schema": {"type": "integer"},
        },
        "RateLimit-Remaining": {
            "description": "Requests left in this window.",
            "schema": {"type": "integer"},
        },
        "RateLimit-Reset": {
            "description": "Seconds until the window resets.",
            "schema": {"type": "integer"},
        },
    },
    "503": {
        "Retry-After": {
            "description": "Seconds to wait.",
            "schema": {"type": "integer"},
        }
    },
}


def _document_problems(operation: dict[str, Any]) -> None:
    """Errors are problem details, whatever the path.

    FastAPI guesses a 422 for any operation with parameters, in its own
    shape. A route lists its own 422 where it words one; otherwise the guess
    stands, as a validation problem, wherever a query parameter or a body
    can be invalid (a string path segment never is, by itself).
    """
    answers: dict[str, Any] = operation["responses"]
    automatic = answers.get("422", {}).get("content", {}).get("application/json", {})
    if automatic.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
        queries = [p for p in operation.get("parameters", []) if p["in"] == "query"]
        if queries or "requestBody" in operation:
            answers["422"] = _problem_answer(422, "ValidationProblem")
        else:
            del answers["422"]
    for status, answer in answers.items():
        content = answer.get("content", {})
        if status.isdigit() and int(status) >= 400 and "application/json" in content:
            answer["content"] = {PROBLEM_JSON: content.pop("application/json")}


_PAGE = {
    "schema": {
        "type": "string",
        "description": "The browsable API's HTML page of the JSON (format=api, or a browser's Accept).",
    }
}


def _document_pages(answers: dict[str, Any]) -> None:
    """A GET's JSON answers, problems too, also come as the browsable page
    (but for a 429, which is answered before the page is made)."""
    for status, answer in answers.items():
        if status == "429":
            continue
        content = answer.get("content", {})
        if "application/json" in content or PROBLEM_JSON in content:
            content.setdefault("text/html", _PAGE)


def _document_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    answers: dict[str, Any] = operation["responses"]
    # Every API operation is rate limited when its kind's limit is set.
    answers.setdefault("429", _problem_answer(429))
    for status, answer in answers.items():
        if status in _ANSWER_HEADERS:
            answer.setdefault("headers", {}).update(_ANSWER_HEADERS[status])
    parameters = operation.setdefault("parameters", [])
    for parameter in parameters:
        # An optional query parameter is absent, never null: say so, so that
        # clients do not grow a null case for it.
        schema = parameter["schema"]
        variants = schema.get("anyOf", [])
        if not parameter.get("required") and {"type": "null"} in variants:
            kept = [v for v in variants if v != {"type": "null"}]
            if len(kept) == 1:
                del schema["anyOf"]
                schema.update(kept[0])
    if method == "get":
        _document_pages(answers)
    if method == "get" and "304" in answers:
        if path.endswith(_VALIDATED_BY_CONTENT):
            # No moment dates these answers: an ETag only, no Last-Modified.
            parameters.append(_CONDITIONAL_GET[0])
            headers = {k: v for k, v in _CACHE_HEADERS.items() if k != "Last-Modified"}
        else:
            parameters.extend(_CONDITIONAL_GET)
            headers = _CACHE_HEADERS
        for status in ("200", "304"):
            answers[status].setdefault("headers", {}).update(headers)
    if not path.startswith("/api/v4/packages/"):
        return  # only packages are edited with If-Match and answer their version
    if method in ("patch", "delete"):
        parameters.extend(_PRECONDITIONS)
    if method in ("patch", "post"):
        # The version just written, ready for the next If-Match.
        for status in ("200", "201"):
            if status in answers:
                answers[status].setdefault("headers", {}).update(_VALIDATOR_HEADERS)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The document served at /openapi.json, built once per app."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=TAGS,
    )
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            _document_problems(operation)
            if path.startswith("/api/"):
                _document_operation(path, method, operation)
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    app.openapi_schema = document
    return document


def install_openapi(app: FastAPI) -> None:
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
