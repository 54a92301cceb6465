"""The one outbound HTTP client a process shares between all upstreams."""

import httpx

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
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.fetch_timeout),
        limits=httpx.Limits(
            max_connections=settings.fetch_concurrency * 2,
            max_keepalive_connections=settings.fetch_concurrency,
        ),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT},
    )
