"""Limit/offset paging in Django REST Framework's shape."""

from typing import Annotated, Generic, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel, Field

from app.api.links import Hyperlink

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_OFFSET = 2**31 - 1

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    count: int = Field(ge=0, description="How many items the whole list holds.")
    next: Hyperlink | None = Field(
        description="Absolute URL of the next page, or null on the last."
    )
    previous: Hyperlink | None = Field(
        description="Absolute URL of the previous page, or null on the first."
    )
    results: list[T]


class Paging:
    """The page a request asks for; a larger limit is capped, not refused."""

    def __init__(
        self,
        limit: Annotated[
            int,
            Query(
                ge=1,
                description=f"Items per page (default {DEFAULT_LIMIT}; values above {MAX_LIMIT} are capped).",
            ),
        ] = DEFAULT_LIMIT,
        offset: Annotated[
            int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")
        ] = 0,
    ) -> None:
        self.limit = min(limit, MAX_LIMIT)
        self.offset = offset

    def links(self, request: Request, count: int) -> tuple[str | None, str | None]:
        url = request.url
        next_url = previous_url = None
        if self.offset + self.limit < count:
            next_url = str(
                url.include_query_params(
                    limit=self.limit, offset=self.offset + self.limit
                )
            )
        if self.offset > 0:
            if self.offset - self.limit <= 0:
                previous_url = str(
                    url.remove_query_params("offset").include_query_params(
                        limit=self.limit
                    )
                )
            else:
                previous_url = str(
                    url.include_query_params(
                        limit=self.limit, offset=self.offset - self.limit
                    )
                )
        return next_url, previous_url
