"""Absolute hyperlinks to resources, built from the request itself.

The scheme and host come from the request (after trusted proxy headers are
applied), so links stay right behind a TLS proxy; a `format` query parameter
on the request is carried into every link, as Django REST Framework does.
"""

import re
from dataclasses import dataclass

from fastapi import Request

from app.api.methods import API_PREFIX

_TRAILING_ID = re.compile(r"/(\d+)/?$")


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


def id_from_link(value: str | int) -> int | None:
    """The id a hyperlink ends with (whatever its host), or an id as given."""
    if isinstance(value, int):
        return value if value > 0 else None
    text = value.strip().split("?", 1)[0].split("#", 1)[0]
    if text.isascii() and text.isdigit():
        return int(text)
    match = _TRAILING_ID.search(text)
    return int(match[1]) if match else None
