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

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
from httpx_aiohttp import AiohttpTransport

from app.config import Settings

Origin = tuple[str, str, int]


class OffUpstream(httpx.RequestError):
    """A request for a host that is not one of the configured upstream APIs."""


class AnswerTooLarge(httpx.TransportError):
    """An upstream answer longer than FETCH_MAX_BODY; it is not read further."""


_BODY_HEADERS = {b"content-length", b"content-type", b"transfer-encoding"}


def _body_read(request: httpx.Request) -> bool:
    try:
        request.content  # noqa: B018 - raises while the body is an unread stream
    except httpx.RequestNotRead:
        return False
    return True


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise AnswerTooLarge(f"answer longer than {self._limit} bytes")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Transport(httpx.AsyncBaseTransport):
    """The aiohttp transport, with two rules on top.

    An answer is read no further than `limit` bytes as sent (before
    decompression), and not at all when its Content-Length says it is
    longer. A GET or HEAD goes without a body: the aiohttp transport would
    send a redirected GET with an empty chunked body, which servers may
    read as a second, malformed request.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method in ("GET", "HEAD") and not _body_read(request):
            # Only a redirect's follow-up carries an unread body stream.
            request = httpx.Request(
                request.method,
                request.url,
                headers=[
                    (name, value)
                    for name, value in request.headers.raw
                    if name.lower() not in _BODY_HEADERS
                ],
                extensions=request.extensions,
            )
        response = await self._inner.handle_async_request(request)
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self._limit:
            await response.aclose()
            raise AnswerTooLarge(
                f"answer of {length} bytes, longer than {self._limit}", request=request
            )
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _CappedStream(response.stream, self._limit)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


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
        transport=_Transport(AiohttpTransport(limits=limits), settings.fetch_max_body),
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
