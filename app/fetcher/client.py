"""The one outbound HTTP client a process shares between all upstreams.

It is an httpx client (timeouts, redirects, headers and errors are httpx's)
whose connections are aiohttp's: a refresh sends a few requests per package
for tens of thousands of packages, and aiohttp's connection pool and
C-accelerated HTTP parser spend far less CPU per request than httpx's own
transport, which is what limits how many packages one event loop refreshes
per second (`bench/refresh.py` measures it).
"""

import httpx
from httpx_aiohttp import AiohttpTransport

from app.config import Settings

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
    return httpx.AsyncClient(
        transport=AiohttpTransport(limits=limits),
        timeout=httpx.Timeout(settings.fetch_timeout),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT},
    )
