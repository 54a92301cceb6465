"""Ask an upstream for JSON; the one place that decides what a failure means.

`get_json` sends one GET (`post_json` one POST of a JSON body: a GraphQL
query) through the shared client, paced by the upstream's shared limiter
(`app.fetcher.limiter`), retries transient failures with jittered
exponential backoff (stamina), and turns every answer that is not data into
an error from `app.fetcher.errors`:

- transport errors (a connection reset mid-body too), timeouts, 5xx and
  malformed JSON are transient;
- a 403 / 429 shaped like a rate limit, or a GraphQL answer (200 or 403)
  whose `errors` say RATE_LIMITED, pauses the upstream for every task and is
  asked again after the pause; a pause longer than
  fetch_rate_limit_max_wait ends in `RateLimited` instead;
- 404 and 410 are `NotFound`; 451 and GitHub's "Repository access blocked"
  are `Blocked`; every other 4xx, an unfollowable redirect and a redirect
  loop are permanent.

Conditional requests: while `conditional(etags)` is active (the refresh
opens it around one source of one package), a call with an `etag_key`
sends that endpoint's stored ETag as If-None-Match, answers 304 as a
`Reply` with status 304 and no data, and keeps the ETag of every 200.
https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import stamina

from app.config import Settings
from app.fetcher.client import AnswerTooLarge, OffUpstream
from app.fetcher.errors import (
    Blocked,
    FetchError,
    NotFound,
    PermanentError,
    RateLimited,
    TransientError,
)
from app.fetcher.limiter import (
    LimitAnswer,
    UpstreamLimiter,
    shared_limiters,
    upstream_name,
)
from app.ops.metrics import record_fetch

# Statuses whose body is not data: 202 "still computing", 204 "nothing",
# 304 "not modified since the ETag you sent".
_NO_BODY = frozenset({202, 204, 304})

# Rate-limit pauses one request waits out before it gives up; each is at
# most fetch_rate_limit_max_wait long.
_LIMIT_PAUSES = 5


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer: its status, parsed JSON body and Link relations."""

    status: int
    data: Any  # None for an empty body, a 202, 204 or 304
    url: str  # the final URL, after any redirects
    links: Mapping[str | None, Mapping[str, str]]
    redirected: bool = False
    etag_key: str | None = None  # the endpoint's name for conditional requests

    @property
    def next_url(self) -> str | None:
        return self.links.get("next", {}).get("url")

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class ETags:
    """One source's ETags by endpoint name: those stored, updated as answers come."""

    def __init__(self, stored: Mapping[str, Any]) -> None:
        self.current: dict[str, str] = {
            key: value for key, value in stored.items() if isinstance(value, str)
        }

    def forget(self, key: str) -> None:
        self.current.pop(key, None)


_active_etags: ContextVar[ETags | None] = ContextVar("active_etags", default=None)


@contextmanager
def conditional(etags: ETags) -> Iterator[ETags]:
    """Send and keep ETags from `etags` for the calls made inside (this task only)."""
    token = _active_etags.set(etags)
    try:
        yield etags
    finally:
        _active_etags.reset(token)


def forget_etag(reply: Reply) -> None:
    """Drop the ETag of an answer whose body was not usable, so it is asked in full."""
    etags = _active_etags.get()
    if etags is not None and reply.etag_key is not None:
        etags.forget(reply.etag_key)


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    settings: Settings,
    params: Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
    accept: frozenset[int] = frozenset(),
    etag_key: str | None = None,
    limiter: UpstreamLimiter | None = None,
) -> Reply:
    """GET `url` and return its JSON, retrying what may succeed next time.

    2xx answers are returned; so are the statuses in `accept`, for endpoints
    where an error status carries a fact (GitHub's 409 for an empty
    repository), and a 304 to a conditional request. Without a `limiter`
    the URL's host gets one of its own, shared through `client`.
    """
    if limiter is None:
        limiter = shared_limiters(client, settings).get(upstream_name(url))
    etags = _active_etags.get() if etag_key is not None else None
    sent_etag = etags.current.get(etag_key) if etags and etag_key else None
    if sent_etag is not None:
        headers = {**(headers or {}), "If-None-Match": sent_etag}
        accept = accept | {304}

    request = _Request("GET", url, params=params, headers=headers)
    response, data = await _send(client, request, limiter, accept, settings)
    reply = _reply(response, data, etag_key)
    if etags is not None and etag_key is not None and reply.status == 200:
        if etag := response.headers.get("etag"):
            etags.current[etag_key] = etag
        else:
            etags.forget(etag_key)
    return reply


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: Mapping[str, Any],
    *,
    settings: Settings,
    headers: Mapping[str, str] | None = None,
    limiter: UpstreamLimiter | None = None,
) -> Reply:
    """POST `body` as JSON to `url` and return the JSON answer, as `get_json` does.

    Only for requests that read, such as a GraphQL query: a failed one is
    sent again. A GraphQL `errors` entry other than a rate limit is data,
    left for the caller to read.
    """
    if limiter is None:
        limiter = shared_limiters(client, settings).get(upstream_name(url))
    request = _Request("POST", url, headers=headers, json=body)
    response, data = await _send(client, request, limiter, frozenset(), settings)
    return _reply(response, data, etag_key=None)


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    url: str
    params: Mapping[str, str | int] | None = None
    headers: Mapping[str, str] | None = None
    json: Mapping[str, Any] | None = None


def _reply(response: httpx.Response, data: Any, etag_key: str | None) -> Reply:
    return Reply(
        status=response.status_code,
        data=data,
        url=str(response.url),
        links=response.links,
        redirected=bool(response.history),
        etag_key=etag_key,
    )


async def _send(
    client: httpx.AsyncClient,
    request: _Request,
    limiter: UpstreamLimiter,
    accept: frozenset[int],
    settings: Settings,
) -> tuple[httpx.Response, Any]:
    """The answer and its parsed body, after retries and rate-limit pauses."""
    try:
        response, data = await _send_paced(client, request, limiter, accept, settings)
    except FetchError as exc:
        record_fetch(limiter.name, exc.status, exc)
        raise
    record_fetch(limiter.name, response.status_code, None)
    return response, data


async def _send_paced(
    client: httpx.AsyncClient,
    request: _Request,
    limiter: UpstreamLimiter,
    accept: frozenset[int],
    settings: Settings,
) -> tuple[httpx.Response, Any]:
    wait = 0.0
    for _ in range(_LIMIT_PAUSES):
        try:
            return await _send_retrying(client, request, limiter, accept, settings)
        except _Throttled as exc:
            wait = limiter.hit_limit(exc.answer)
            if wait > settings.fetch_rate_limit_max_wait:
                raise RateLimited(
                    url=request.url, retry_after=wait, status=exc.status
                ) from None
    # Limited again after every pause: give the round up, as for a long one.
    raise RateLimited(url=request.url, retry_after=wait)


class _Throttled(Exception):
    """A rate-limit answer: never retried by stamina, waited out by get_json."""

    def __init__(self, answer: LimitAnswer, status: int) -> None:
        self.answer = answer
        self.status = status


async def _send_retrying(
    client: httpx.AsyncClient,
    request: _Request,
    limiter: UpstreamLimiter,
    accept: frozenset[int],
    settings: Settings,
) -> tuple[httpx.Response, Any]:
    def should_retry(exc: Exception) -> bool:
        # RateLimited (a pause too long to wait) is transient, but not now.
        return isinstance(exc, TransientError) and not isinstance(exc, RateLimited)

    async for attempt in stamina.retry_context(
        on=should_retry,
        attempts=settings.fetch_retries,
        timeout=None,
        wait_initial=settings.fetch_retry_delay,
        wait_jitter=settings.fetch_retry_delay,
        wait_max=settings.fetch_retry_delay * 2 ** (settings.fetch_retries - 1),
    ):
        with attempt:
            return await _send_once(client, request, limiter, accept)
    raise AssertionError("stamina ends with a return or an exception")


async def _send_once(
    client: httpx.AsyncClient,
    request: _Request,
    limiter: UpstreamLimiter,
    accept: frozenset[int],
) -> tuple[httpx.Response, Any]:
    url = request.url
    async with limiter.request(url):
        try:
            # The body is read inside: a connection reset mid-body lands here.
            response = await client.request(
                request.method,
                url,
                params=request.params,
                headers=request.headers,
                json=request.json,
            )
        except httpx.TooManyRedirects as exc:
            raise PermanentError("too many redirects", url=url) from exc
        except AnswerTooLarge as exc:
            raise PermanentError(f"refused: {exc}", url=url) from exc
        except OffUpstream as exc:
            # A redirect away from the upstream: not followed, not retried.
            raise PermanentError(f"refused: {exc}", url=url) from exc
        except (httpx.TransportError, TimeoutError) as exc:
            kind = "timeout" if _timed_out(exc) else "connection failed"
            raise TransientError(f"transient: {kind}", url=url) from exc
    limiter.observe(response.headers)

    status = response.status_code
    if not (200 <= status < 300 or status in accept):
        answer = _limit_answer(response)
        if answer is not None:
            raise _Throttled(answer, status)
        raise _error_for(response)
    # Parsed inside the retries: malformed JSON is transient.
    data = _parse(response)
    if _graphql_rate_limited(data):
        # GraphQL reports its rate limits in a 200's body as well.
        raise _Throttled(_limit_wait(response), status)
    return response, data


def _timed_out(exc: Exception) -> bool:
    """Whether the upstream was too slow, rather than refused or cut off.

    The aiohttp transport reports every connection error as an httpx
    ConnectTimeout; the aiohttp error it came from says which it was.
    """
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return isinstance(cause, TimeoutError)
    return isinstance(exc, (httpx.TimeoutException, TimeoutError))


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
    if status >= 500:
        return TransientError(f"transient: {status}", url=url, status=status)
    message = _message(response)
    if status in (404, 410):
        return NotFound(f"{status} {message}", url=url, status=status)
    if status == 451 or (status == 403 and _is_access_block(response)):
        reason = _block_reason(response)
        text = f"{status} {message}" + (f" ({reason})" if reason else "")
        return Blocked(text, url=url, status=status, reason=reason)
    return PermanentError(f"{status} {message}", url=url, status=status)


def _limit_answer(response: httpx.Response) -> LimitAnswer | None:
    """What a 403/429 asks for when it is a rate limit; None when it is not one.

    GitHub signals limits four ways: an exhausted quota (X-RateLimit-Remaining
    0, with X-RateLimit-Reset in epoch seconds), Retry-After, a body that
    names a secondary rate limit, or (GraphQL) an `errors` entry of type
    RATE_LIMITED. A 403 with none of these is a plain permission error.
    https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
    https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api
    """
    status, headers = response.status_code, response.headers
    if status not in (403, 429):
        return None
    exhausted = headers.get("x-ratelimit-remaining") == "0"
    has_retry_after = "retry-after" in headers
    secondary = "secondary rate limit" in response.text.lower()
    graphql = _graphql_rate_limited(_body(response))
    if not (exhausted or has_retry_after or secondary or graphql or status == 429):
        return None
    return _limit_wait(response)


def _limit_wait(response: httpx.Response) -> LimitAnswer:
    """The pause a rate-limit answer asks for: its kind, Retry-After and reset."""
    headers = response.headers
    exhausted = headers.get("x-ratelimit-remaining") == "0"
    secondary = "secondary rate limit" in response.text.lower()
    return LimitAnswer(
        kind="primary" if exhausted and not secondary else "secondary",
        # Retry-After may also be an HTTP date; GitHub sends seconds.
        retry_after=_seconds(headers.get("retry-after", "")),
        reset=_seconds(headers.get("x-ratelimit-reset", "")),
    )


def _graphql_rate_limited(body: Any) -> bool:
    """Whether a GraphQL body's `errors` include one of type RATE_LIMITED."""
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, list) and any(
        isinstance(error, dict) and error.get("type") == "RATE_LIMITED"
        for error in errors
    )


def _seconds(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _message(response: httpx.Response) -> str:
    """The upstream's `message` (GitHub, PyPI, GitLab), else the reason phrase.

    GitLab's messages start with the status ("404 Project Not Found"); the
    status is shown once, in front, for every upstream.
    """
    message = _body(response).get("message")
    if isinstance(message, str) and message.strip():
        return message.strip().removeprefix(f"{response.status_code} ")
    return response.reason_phrase


def _is_access_block(response: httpx.Response) -> bool:
    # https://docs.github.com/en/rest/repos/repos#get-a-repository answers
    # {"message": "Repository access blocked", "block": {"reason": ...}}.
    body = _body(response)
    message = body.get("message")
    return isinstance(body.get("block"), dict) or (
        isinstance(message, str) and "access blocked" in message.lower()
    )


def _block_reason(response: httpx.Response) -> str | None:
    block = _body(response).get("block")
    reason = block.get("reason") if isinstance(block, dict) else None
    return reason if isinstance(reason, str) and reason else None
