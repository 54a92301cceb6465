"""Make sense of the PyPI project URLs people paste.

`pypi_name` finds the project name in a stored pypi_url, whichever form it
was written in; the API uses it to validate pypi_url, the fetcher to ask
PyPI about the project.
"""

import re
from urllib.parse import urlsplit

# A project name as PEP 508 allows it.
# https://packaging.python.org/en/latest/specifications/name-normalization/
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_PYPI_HOSTS = frozenset({"pypi.org", "pypi.python.org"})
# Path prefixes of a project page: /project/NAME/ (pypi.org), /pypi/NAME (legacy).
_PROJECT_PREFIXES = frozenset({"project", "pypi"})


def pypi_name(pypi_url: str) -> str | None:
    """The project name in a stored pypi_url, or None when there is none.

    The catalogue holds legacy URLs (`http://pypi.python.org/pypi/NAME`, with
    or without a trailing slash), current ones (`https://pypi.org/project/NAME/`)
    and bare names.
    """
    value = pypi_url.strip()
    if _NAME.fullmatch(value):
        return value

    parts = urlsplit(value)
    host = (parts.hostname or "").removeprefix("www.")
    if parts.scheme not in ("http", "https") or host not in _PYPI_HOSTS:
        return None
    segments = [segment for segment in parts.path.split("/") if segment]
    if len(segments) >= 2 and segments[0] in _PROJECT_PREFIXES:
        name = segments[1]
        return name if _NAME.fullmatch(name) else None
    return None
