"""One rule for path segments that name a resource: digits are an id."""

from typing import Any

from sqlalchemy import ColumnElement

MAX_ID = 2**31 - 1


def id_or_slug(model: Any, segment: str) -> ColumnElement[bool] | None:
    """A WHERE clause for `segment`, or None when it can match nothing."""
    if segment.isascii() and segment.isdigit():
        number = int(segment)
        return model.id == number if 0 < number <= MAX_ID else None
    return model.slug == segment
