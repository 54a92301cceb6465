"""Trusted proxy headers: the scheme, client and host the client really used.

uvicorn's middleware applies `X-Forwarded-Proto` and `X-Forwarded-For` from
trusted addresses. Proxies that keep their own `Host` upstream and pass the
client's in `X-Forwarded-Host` need that one applied too, or every link
would name the proxy's internal host. It is taken from trusted addresses
only, like the others, since it decides where links send clients.
https://developer.mozilla.org/en-US/docs/Web/HTTP/Reference/Headers/X-Forwarded-Host
"""

from uvicorn._types import ASGIReceiveCallable, ASGISendCallable, HTTPScope, Scope
from uvicorn.middleware import proxy_headers


class ProxyHeadersMiddleware(proxy_headers.ProxyHeadersMiddleware):
    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "http":
            self._apply_forwarded_host(scope)
        await super().__call__(scope, receive, send)

    def _apply_forwarded_host(self, scope: HTTPScope) -> None:
        client = scope.get("client")
        if client is None or client[0] not in self.trusted_hosts:
            return
        headers = list(scope["headers"])
        values = [value for name, value in headers if name == b"x-forwarded-host"]
        if not values:
            return
        # Each proxy on the way may append; the last entry was written by the
        # trusted proxy in front of us.
        host = b",".join(values).split(b",")[-1].strip()
        if host:
            headers = [(name, value) for name, value in headers if name != b"host"]
            scope["headers"] = [*headers, (b"host", host)]
