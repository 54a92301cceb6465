"""One rule for path segments that name a resource: digits are an id."""

from typing import Any

from sqlalchemy import ColumnElement

MAX_ID = 2**31 - 1


def id_or_slug(model: Any, segment: str) -> ColumnElement[bool] | None:
    """A WHERE clause for `segment`, or None when it can match nothing."""
    clause: ColumnElement[bool]
    if "\x00" in segment:
        return None  # PostgreSQL text cannot hold NUL, so nothing has it
    if segment.isascii() and segment.isdigit():
        number = int(segment)
        if not 0 < number <= MAX_ID:
            return None
        clause = model.id == number
    else:
        clause = model.slug == segment
    return clause
