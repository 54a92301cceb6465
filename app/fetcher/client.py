"""The one outbound HTTP client a process shares between all upstreams.

It is an httpx client (timeouts, redirects, headers and errors are httpx's)
whose connections are aiohttp's: a refresh sends a few requests per package
for tens of thousands of packages, and aiohttp's connection pool and
C-accelerated HTTP parser spend far less CPU per request than httpx's own
transport, which is what limits how many packages one event loop refreshes
per second (`bench/refresh.py` measures it).

The client sends requests to the configured upstream APIs only. What a
package names (repo_url, pypi_url, documentation_url) never becomes a
request's host: the fetcher builds every URL from an API base setting. A
redirect could still point anywhere, a private address included, so every
request, each hop of a redirect as well, is checked against the origins of
those settings and refused before it is sent when it is for any other.
"""

from urllib.parse import urlsplit

import httpx
from httpx_aiohttp import AiohttpTransport

from app.config import Settings

Origin = tuple[str, str, int]


class OffUpstream(httpx.RequestError):
    """A request for a host that is not one of the configured upstream APIs."""


USER_AGENT = "packages-api/0.1"

# Renamed GitHub repositories answer with a chain of 301s; more hops than
# this is a loop. https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#follow-redirects
MAX_REDIRECTS = 5


def create_http_client(settings: Settings) -> httpx.AsyncClient:
    """A client with explicit timeouts and pool limits; use it as `async with`.

    Credentials are not set here: the client also talks to PyPI, so each
    upstream module adds its own headers per request.
    """
    limits = httpx.Limits(
        max_connections=settings.fetch_concurrency * 2,
        max_keepalive_connections=settings.fetch_concurrency,
    )
    allowed = upstream_origins(settings)

    async def only_upstreams(request: httpx.Request) -> None:
        url = request.url
        if _origin(url.scheme, url.host, url.port) not in allowed:
            origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
            raise OffUpstream(f"{origin} is not a configured upstream", request=request)

    return httpx.AsyncClient(
        transport=AiohttpTransport(limits=limits),
        event_hooks={"request": [only_upstreams]},
        timeout=httpx.Timeout(settings.fetch_timeout),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT},
    )


def upstream_origins(settings: Settings) -> frozenset[Origin]:
    """(scheme, host, port) of every upstream API the settings name."""
    bases = [
        settings.github_api_url,
        settings.gitlab_api_url,
        settings.bitbucket_api_url,
        settings.codeberg_api_url,
        settings.pypi_url,
        *settings.gitlab_hosts.values(),
        *settings.gitea_hosts.values(),
    ]
    origins = set()
    for base in bases:
        parts = urlsplit(base)
        origins.add(_origin(parts.scheme, parts.hostname or "", parts.port))
    return frozenset(origins)


def _origin(scheme: str, host: str, port: int | None) -> Origin:
    scheme = scheme.lower()
    default = 443 if scheme == "https" else 80
    return scheme, host.lower().rstrip("."), port or default
