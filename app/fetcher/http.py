"""Ask an upstream for JSON; the one place that decides what a failure means.

`get_json` sends one GET through the shared client, retries transient
failures with jittered exponential backoff (stamina), and turns every
answer that is not data into an error from `app.fetcher.errors`:

- transport errors, timeouts, 5xx and malformed JSON are transient;
- 403 / 429 shaped like a rate limit are `RateLimited` (transient, waited out
  when the upstream asks for no longer than `fetch_rate_limit_max_wait`);
- every other 4xx, an unfollowable redirect and a redirect loop are permanent.
"""

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import stamina

from app.config import Settings
from app.fetcher.errors import FetchError, PermanentError, RateLimited, TransientError

# Statuses whose body is not data: 202 "still computing" and 204 "nothing".
_NO_BODY = frozenset({202, 204})

# GitHub's advice when a limit comes without Retry-After or a reset time:
# wait at least a minute.
# https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#handle-rate-limit-errors-appropriately
_DEFAULT_RATE_LIMIT_WAIT = 60.0


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer: its status, parsed JSON body and Link relations."""

    status: int
    data: Any  # None for an empty body, a 202 or a 204
    url: str  # the final URL, after any redirects
    links: Mapping[str | None, Mapping[str, str]]

    @property
    def next_url(self) -> str | None:
        return self.links.get("next", {}).get("url")


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    settings: Settings,
    params: Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
    accept: frozenset[int] = frozenset(),
) -> Reply:
    """GET `url` and return its JSON, retrying what may succeed next time.

    2xx answers are returned; so are the statuses in `accept`, for endpoints
    where an error status carries a fact (GitHub's 409 for an empty repository).
    """

    def should_retry(exc: Exception) -> bool | float:
        if isinstance(exc, RateLimited):
            # TODO: one shared GitHub limiter should pause every task, not only
            # this request, and hold calls while the remaining quota is low;
            # until then concurrent tasks each run into the same limit.
            if exc.retry_after > settings.fetch_rate_limit_max_wait:
                return False
            return exc.retry_after
        return isinstance(exc, TransientError)

    async for attempt in stamina.retry_context(
        on=should_retry,
        attempts=settings.fetch_retries,
        timeout=None,
        wait_initial=settings.fetch_retry_delay,
        wait_jitter=settings.fetch_retry_delay,
        wait_max=settings.fetch_retry_delay * 2 ** (settings.fetch_retries - 1),
    ):
        with attempt:
            return await _get_once(client, url, params, headers, accept)
    raise AssertionError("stamina ends with a return or an exception")


async def _get_once(
    client: httpx.AsyncClient,
    url: str,
    params: Mapping[str, str | int] | None,
    headers: Mapping[str, str] | None,
    accept: frozenset[int],
) -> Reply:
    try:
        response = await client.get(url, params=params, headers=headers)
    except httpx.TooManyRedirects as exc:
        raise PermanentError("too many redirects", url=url) from exc
    except httpx.TimeoutException as exc:
        raise TransientError("transient: timeout", url=url) from exc
    except httpx.TransportError as exc:
        raise TransientError("transient: connection failed", url=url) from exc

    status = response.status_code
    if not (200 <= status < 300 or status in accept):
        raise _error_for(response)
    return Reply(
        status=status,
        data=_parse(response),
        url=str(response.url),
        links=response.links,
    )


def _parse(response: httpx.Response) -> Any:
    if response.status_code in _NO_BODY or not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise TransientError(
            "transient: malformed JSON",
            url=str(response.url),
            status=response.status_code,
        ) from exc


def _error_for(response: httpx.Response) -> FetchError:
    url, status = str(response.url), response.status_code
    wait = _rate_limit_wait(response)
    if wait is not None:
        return RateLimited(url=url, status=status, retry_after=wait)
    if status >= 500:
        return TransientError(f"transient: {status}", url=url, status=status)
    return PermanentError(f"{status} {_message(response)}", url=url, status=status)


def _rate_limit_wait(response: httpx.Response) -> float | None:
    """Seconds to wait when a 403/429 is a rate limit; None when it is not one.

    GitHub signals limits three ways: Retry-After, an exhausted quota
    (X-RateLimit-Remaining: 0 with X-RateLimit-Reset in epoch seconds), or a
    body that names a secondary rate limit. A 403 with none of these is a
    plain permission error.
    https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
    """
    status, headers = response.status_code, response.headers
    if status not in (403, 429):
        return None
    if "retry-after" in headers:
        # Retry-After may also be an HTTP date; GitHub sends seconds.
        wait = _seconds(headers["retry-after"])
        return _DEFAULT_RATE_LIMIT_WAIT if wait is None else wait
    if headers.get("x-ratelimit-remaining") == "0":
        reset = _seconds(headers.get("x-ratelimit-reset", ""))
        if reset is None:
            return _DEFAULT_RATE_LIMIT_WAIT
        return max(0.0, reset - time.time() + 1)
    if status == 429 or "secondary rate limit" in response.text.lower():
        return _DEFAULT_RATE_LIMIT_WAIT
    return None


def _seconds(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _message(response: httpx.Response) -> str:
    """GitHub's and PyPI's `message`, else the standard reason phrase."""
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        message = None
    if isinstance(message, str) and message.strip():
        return message.strip()
    return response.reason_phrase
