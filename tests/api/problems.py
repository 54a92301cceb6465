"""Expected RFC 9457 problem details bodies, spelled out for assertions."""

from typing import Any

# The type and title each status is answered with: the section of RFC 9110
# (RFC 6585 for 429) defining it, and its reason phrase.
KINDS = {
    400: ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.1", "Bad Request"),
    401: ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.2", "Unauthorized"),
    403: ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.4", "Forbidden"),
    404: ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.5", "Not Found"),
    405: (
        "https://www.rfc-editor.org/rfc/rfc9110#section-15.5.6",
        "Method Not Allowed",
    ),
    409: ("https://www.rfc-editor.org/rfc/rfc9110#section-15.5.10", "Conflict"),
    412: (
        "https://www.rfc-editor.org/rfc/rfc9110#section-15.5.13",
        "Precondition Failed",
    ),
    413: (
        "https://www.rfc-editor.org/rfc/rfc9110#section-15.5.14",
        "Content Too Large",
    ),
    415: (
        "https://www.rfc-editor.org/rfc/rfc9110#section-15.5.16",
        "Unsupported Media Type",
    ),
    422: (
        "https://www.rfc-editor.org/rfc/rfc9110#section-15.5.21",
        "Unprocessable Content",
    ),
    503: (
        "https://www.rfc-editor.org/rfc/rfc9110#section-15.6.4",
        "Service Unavailable",
    ),
}


def problem(status: int, detail: str, instance: str, **extensions: Any) -> dict:
    kind, title = KINDS[status]
    return {
        "type": kind,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        **extensions,
    }


def not_found(instance: str) -> dict:
    return problem(404, "Not found.", instance)


def invalid(instance: str, detail: str, errors: list[dict[str, Any]]) -> dict:
    return problem(422, detail, instance, errors=errors)
