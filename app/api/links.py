"""Absolute hyperlinks to resources, built from the request itself.

The scheme and host come from the request (after trusted proxy headers are
applied), so links stay right behind a TLS proxy; a `format` query parameter
on the request is carried into every link, as Django REST Framework does.
"""

import re
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Request
from pydantic import WithJsonSchema

from app.api.methods import API_PREFIX
from app.db.lookup import MAX_ID

# A link as served: a plain string that the document calls a URI.
Hyperlink = Annotated[str, WithJsonSchema({"type": "string", "format": "uri"})]

_LINK_PATH = re.compile(r"/(?P<resource>[a-z]+)/(?P<id>[0-9]+)/?$")


@dataclass(frozen=True, slots=True)
class Links:
    base: str  # scheme://host[:port]
    format: str | None = None

    @classmethod
    def from_request(cls, request: Request) -> "Links":
        base = str(request.base_url).rstrip("/")
        return cls(base=base, format=request.query_params.get("format"))

    def _url(self, path: str) -> str:
        url = f"{self.base}{API_PREFIX}/{path}"
        return f"{url}?format={self.format}" if self.format else url

    def root(self) -> str:
        return self._url("")

    def collection(self, name: str) -> str:
        return self._url(f"{name}/")

    def package(self, package_id: int) -> str:
        return self._url(f"packages/{package_id}/")

    def category(self, category_id: int) -> str:
        return self._url(f"categories/{category_id}/")

    def grid(self, grid_id: int) -> str:
        return self._url(f"grids/{grid_id}/")

    def feature(self, grid_id: int, feature_id: int) -> str:
        return self._url(f"grids/{grid_id}/features/{feature_id}/")

    def grid_member(self, grid_id: int, package_id: int) -> str:
        return self._url(f"grids/{grid_id}/packages/{package_id}/")

    def cell(self, grid_id: int, feature_id: int, package_id: int) -> str:
        return self._url(f"grids/{grid_id}/features/{feature_id}/cells/{package_id}/")


def id_from_link(value: str | int, resource: str) -> int | None:
    """The id a reference names: an id, or a hyperlink to `resource` ending in one.

    `resource` is the collection's name ("categories", "grids", "packages").
    A hyperlink's host does not matter (catalogues move between hosts), but
    its path must name that collection, so a grid's link is no category.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= MAX_ID else None
    text = value.strip()
    if text.isascii() and text.isdigit():
        number = int(text)
    else:
        parts = urlsplit(text)
        linkish = parts.scheme in ("http", "https") or text.startswith("/")
        match = _LINK_PATH.search(parts.path) if linkish else None
        if match is None or match["resource"] != resource or parts.fragment:
            return None
        number = int(match["id"])
    return number if 0 < number <= MAX_ID else None
