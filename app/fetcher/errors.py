"""What can go wrong when asking an upstream, in one small tree.

    FetchError                 the upstream did not give us what we asked for
    ├── PermanentError         asking again will not help: 404, plain 403, ...
    └── TransientError         asking again may help: 5xx, timeouts, bad JSON
        └── RateLimited        the upstream asked us to slow down

`str(error)` is the text stored in `Package.last_exception`, so it is short
and carries no secrets. `status` is the HTTP status when there was one.
"""


class FetchError(Exception):
    def __init__(self, message: str, *, url: str = "", status: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status


class PermanentError(FetchError):
    """The answer will be the same next time: not found, forbidden, too many hops."""


class TransientError(FetchError):
    """The request failed this time; a retry with backoff may succeed."""


class RateLimited(TransientError):
    """The upstream throttled us; `retry_after` is how long it asked us to wait."""

    def __init__(self, *, url: str, status: int, retry_after: float) -> None:
        super().__init__("transient: rate limited", url=url, status=status)
        self.retry_after = retry_after
