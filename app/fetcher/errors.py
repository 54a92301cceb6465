"""What can go wrong when asking an upstream, in one small tree.

    FetchError                 the upstream did not give us what we asked for
    ├── PermanentError         asking again will not help: plain 403, 410, ...
    │   ├── NotFound           404 / 410: evidence, over time, that it is gone
    │   └── Blocked            451 or "access blocked": not asked again for a while
    └── TransientError         asking again may help: 5xx, timeouts, bad JSON
        └── RateLimited        the upstream asked us to wait longer than we may

`str(error)` is the text stored in `Package.last_exception` and
`FetchState.last_error`, so it is short; `clean_error_text` makes sure it
carries no secrets and no character a column refuses. `status` is the HTTP
status when there was one.
"""

import re
from collections.abc import Iterable


class FetchError(Exception):
    def __init__(self, message: str, *, url: str = "", status: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status


class PermanentError(FetchError):
    """The answer will be the same next time: not found, forbidden, too many hops."""


class NotFound(PermanentError):
    """404 or 410. One answer proves little: GitHub says 404 for private too."""


class Blocked(PermanentError):
    """451, or a 403 saying access to the repository is blocked (DMCA, ToS).

    `reason` is the upstream's `block.reason` ("dmca", "tos", ...) when given.
    """

    def __init__(
        self, message: str, *, url: str, status: int, reason: str | None
    ) -> None:
        super().__init__(message, url=url, status=status)
        self.reason = reason


class TransientError(FetchError):
    """The request failed this time; a retry with backoff may succeed."""


class RateLimited(TransientError):
    """The upstream throttled us for longer than fetch_rate_limit_max_wait.

    `retry_after` is how many seconds the wait would have been. Not a failure
    of the package: its fetch ends for this round and is tried again later.
    """

    def __init__(
        self, *, url: str, retry_after: float, status: int | None = None
    ) -> None:
        super().__init__(
            f"rate limited for {retry_after:.0f} s", url=url, status=status
        )
        self.retry_after = retry_after


# Credentials as they may be echoed in error text: headers, tokens of the
# forges' documented shapes, secrets in query strings and URL user info.
_SECRET_PATTERNS = (
    (
        re.compile(r"(?i)\b(authorization|proxy-authorization)\b\s*[:=]\s*[^,;\n]+"),
        "[redacted]",
    ),
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}"), "[redacted]"),
    (
        re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,})"),
        "[redacted]",
    ),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{16,}"), "[redacted]"),
    (
        re.compile(
            r"(?i)([?&](access_token|private_token|token|client_secret)=)[^&\s]+"
        ),
        r"\1[redacted]",
    ),
    (re.compile(r"(?<=://)[^/@\s:]+:[^/@\s]+@"), "[redacted]@"),
)
_REDACTED = "[redacted]"
_MAX_ERROR_TEXT = 500
# Characters no database column takes: NUL, and the lone surrogates JSON
# may carry ("\ud800"). An upstream's message may hold either.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean_error_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` fit to store and show: no known secret, no credential shape, no
    character a column refuses, short."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    text = _UNSTORABLE.sub("\ufffd", text)
    if len(text) > _MAX_ERROR_TEXT:
        text = text[: _MAX_ERROR_TEXT - 1] + "…"
    return text
