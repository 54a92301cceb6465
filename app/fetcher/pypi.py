"""Latest release and documentation link from PyPI's JSON API.

https://docs.pypi.org/api/json/ : `GET /pypi/{name}/json` gives `info`
(`version` is the newest final release when there is one), `releases`
(version string to files) and `urls`. PyPI sends an ETag too, so the
project is asked conditionally: a 304 keeps what is stored.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from pydantic import TypeAdapter

from app.config import Settings
from app.fetcher.checks import (
    Time,
    WebUrl,
    check,
    sift,
    unexpected,
)
from app.fetcher.checks import (
    Version as VersionText,
)
from app.fetcher.http import get_json
from app.fetcher.limiter import shared_limiters

_VERSION: TypeAdapter[str] = TypeAdapter(VersionText)
_TIME: TypeAdapter[datetime] = TypeAdapter(Time)
_WEB_URL: TypeAdapter[str] = TypeAdapter(WebUrl)


@dataclass(frozen=True, slots=True)
class PyPIStats:
    version: str | None  # None when PyPI lists no usable release
    documentation_url: str | None
    released_at: datetime | None = None  # first upload of `version`'s files
    python3: bool | None = None  # None when the metadata does not say


def latest_version(releases: Mapping[str, Any]) -> str | None:
    """The newest release by PEP 440 ordering, as PyPI would choose it.

    Keys are compared as versions, not strings (0.10.0 > 0.9.0); keys that do
    not parse are skipped; releases without files or whose files are all
    yanked are skipped; pre-releases count only when there is nothing else.
    """
    candidates: list[tuple[Version, str]] = []
    for key, files in releases.items():
        try:
            version = Version(key)
        except InvalidVersion:
            continue
        if _has_live_file(files):
            candidates.append((version, key))

    finals = [pair for pair in candidates if not pair[0].is_prerelease]
    chosen = finals or candidates
    return max(chosen)[1] if chosen else None


def release_time(files: Any) -> datetime | None:
    """When a release was published: the earliest upload among its live files.

    A file whose upload time is missing, not ISO 8601 or outside the stored
    range (app.fetcher.checks) is left out; times without an offset are UTC.
    """
    if not isinstance(files, list):
        return None
    stamps = [
        entry.get("upload_time_iso_8601") or entry.get("upload_time")
        for entry in files
        if isinstance(entry, dict) and not entry.get("yanked", False)
    ]
    return min(sift(_TIME, stamps), default=None)


# Python 3 releases a requires_python is checked against; any one allowed
# means the project installs on Python 3.
_PYTHON3_PROBES = tuple(Version(f"3.{minor}") for minor in range(0, 20))


def supports_python3(info: Mapping[str, Any]) -> bool | None:
    """Whether the project supports Python 3, from its trove classifiers and
    requires_python (https://packaging.python.org/en/latest/specifications/core-metadata/).

    A "Programming Language :: Python :: 3..." classifier or a requires_python
    that admits some 3.x says yes; a requires_python that admits none, or
    Python classifiers that name only Python 2, say no; otherwise unknown.
    """
    classifiers = info.get("classifiers")
    named = [
        c.strip()
        for c in (classifiers if isinstance(classifiers, list) else [])
        if isinstance(c, str) and c.startswith("Programming Language :: Python ::")
    ]
    if any(
        c.split("::")[2].strip().startswith("3") for c in named if c.count("::") >= 2
    ):
        return True
    requires = info.get("requires_python")
    if isinstance(requires, str) and requires.strip():
        try:
            spec = SpecifierSet(requires)
        except InvalidSpecifier:
            spec = None
        if spec is not None:
            return any(spec.contains(v, prereleases=True) for v in _PYTHON3_PROBES)
    if any(
        c.split("::")[2].strip().startswith("2") for c in named if c.count("::") >= 2
    ):
        return False
    return None


def documentation_url(info: Mapping[str, Any]) -> str | None:
    """The project's documentation link from its metadata, if it has one.

    `project_urls` may be missing or null and its keys are free text, so a
    key named like documentation ("Documentation", "docs", "Docs: RTD") is
    looked for case-insensitively before the legacy `docs_url`. Only links
    the API would take as documentation_url are taken: http(s), no spaces,
    at most 500 characters.
    """
    project_urls = info.get("project_urls")
    if not isinstance(project_urls, dict):
        project_urls = {}
    labelled = [
        value
        for key, value in project_urls.items()
        if (label := key.strip().lower()) in ("documentation", "docs")
        or label.startswith("docs")
    ]
    return next(iter(sift(_WEB_URL, [*labelled, info.get("docs_url")])), None)


class PyPIClient:
    def __init__(self, http_client: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http_client
        self._settings = settings
        self._base = settings.pypi_url.rstrip("/")
        self._limiter = shared_limiters(http_client, settings).get("pypi")

    async def fetch(self, name: str) -> PyPIStats:
        """The project's latest version and documentation link; None for both after a 304."""
        reply = await get_json(
            self._http,
            f"{self._base}/pypi/{quote(name, safe='')}/json",
            settings=self._settings,
            etag_key="project",
            limiter=self._limiter,
        )
        if reply.not_modified:
            return PyPIStats(version=None, documentation_url=None)
        data = reply.data
        info = data.get("info") if isinstance(data, dict) else None
        if not isinstance(info, dict):
            raise unexpected(reply)

        version = info.get("version")
        releases = data.get("releases")
        if not isinstance(releases, dict):
            releases = {}
        if isinstance(version, str) and version.strip():
            version = check(_VERSION, version, field="info.version", reply=reply)
        else:
            version = latest_version(releases)
            if version is not None:
                version = check(_VERSION, version, field="releases", reply=reply)
        # `urls` holds the files of info.version; `releases` of every version.
        files = data.get("urls") if version == info.get("version") else None
        released_at = release_time(files) or release_time(releases.get(version))
        return PyPIStats(
            version=version,
            documentation_url=documentation_url(info),
            released_at=released_at,
            python3=supports_python3(info),
        )


def _has_live_file(files: Any) -> bool:
    if not isinstance(files, list):
        return False
    return any(isinstance(f, dict) and not f.get("yanked", False) for f in files)
