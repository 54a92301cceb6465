"""How one GET's failures are classified and retried (MockTransport units)."""

import time
from collections.abc import Callable

import httpx
import pytest

from app.config import Settings
from app.fetcher.errors import PermanentError, RateLimited, TransientError
from app.fetcher.http import get_json

URL = "http://127.0.0.1:9/repos/example-org/example-repo"
SECONDARY = {
    "message": "You have exceeded a secondary rate limit. Please wait a few "
    "minutes before you try again.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
}


def client_answering(*answers: httpx.Response) -> tuple[httpx.AsyncClient, list[int]]:
    """A client whose Nth request gets the Nth answer (the last one repeats)."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return answers[min(len(calls), len(answers)) - 1]

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), calls


def limited(settings: Settings) -> Settings:
    return settings.model_copy(update={"fetch_rate_limit_max_wait": 0.5})


async def test_a_plain_403_is_permanent_and_not_retried(settings: Settings) -> None:
    # Case 007 E: a permission error, not a limit.
    client, calls = client_answering(
        httpx.Response(
            403,
            headers={"x-ratelimit-remaining": "4999"},
            json={"message": "Resource not accessible by integration"},
        )
    )

    with pytest.raises(PermanentError) as caught:
        await get_json(client, URL, settings=settings)

    assert str(caught.value) == "403 Resource not accessible by integration"
    assert (caught.value.status, len(calls)) == (403, 1)


async def test_a_404_is_permanent_and_not_retried(settings: Settings) -> None:
    client, calls = client_answering(httpx.Response(404, json={"message": "Not Found"}))

    with pytest.raises(PermanentError) as caught:
        await get_json(client, URL, settings=settings)

    assert (str(caught.value), len(calls)) == ("404 Not Found", 1)


async def test_a_short_retry_after_is_waited_out_and_retried(
    settings: Settings,
) -> None:
    client, calls = client_answering(
        httpx.Response(403, headers={"retry-after": "0"}, json=SECONDARY),
        httpx.Response(200, json={"stargazers_count": 1}),
    )

    reply = await get_json(client, URL, settings=limited(settings))

    assert (reply.data, len(calls)) == ({"stargazers_count": 1}, 2)


ResponseFactory = Callable[[], httpx.Response]


@pytest.mark.parametrize(
    ("answer", "wait"),
    [
        # Case 007 D: 429 with Retry-After.
        (lambda: httpx.Response(429, headers={"retry-after": "30"}, json=SECONDARY), 30.0),
        # Case 007 C: secondary limit named only in the body.
        (lambda: httpx.Response(403, headers={"x-ratelimit-remaining": "4321"}, json=SECONDARY), 60.0),
        # Case 007 A without its reset header: wait a minute, do not crash.
        (lambda: httpx.Response(403, headers={"x-ratelimit-remaining": "0"}, json={}), 60.0),
        # A bare 429.
        (lambda: httpx.Response(429, text="slow down"), 60.0),
    ],
)  # fmt: skip
async def test_a_long_rate_limit_gives_up_as_transient(
    settings: Settings, answer: ResponseFactory, wait: float
) -> None:
    client, calls = client_answering(answer())

    with pytest.raises(RateLimited) as caught:
        await get_json(client, URL, settings=limited(settings))

    assert str(caught.value) == f"rate limited for {wait:.0f} s"
    assert (caught.value.retry_after, len(calls)) == (wait, 1)


async def test_an_exhausted_quota_waits_until_its_reset(settings: Settings) -> None:
    # Case 007 A: the reset is epoch seconds; wait = reset - now + 1.
    reset = int(time.time()) + 600
    client, _ = client_answering(
        httpx.Response(
            403,
            headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
            json={"message": "API rate limit exceeded for user ID 1000001."},
        )
    )

    with pytest.raises(RateLimited) as caught:
        await get_json(client, URL, settings=limited(settings))

    assert 599 < caught.value.retry_after <= 601


async def test_connection_errors_are_retried_then_transient(
    settings: Settings,
) -> None:
    calls: list[int] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))

    with pytest.raises(TransientError) as caught:
        await get_json(client, URL, settings=settings)

    assert (str(caught.value), len(calls)) == ("transient: connection failed", 3)


async def test_statuses_with_no_body_are_not_parsed(settings: Settings) -> None:
    client, _ = client_answering(
        httpx.Response(202, text="{}"),
        httpx.Response(204),
        httpx.Response(409, json={"message": "Git Repository is empty."}),
    )

    accepted = await get_json(client, URL, settings=settings)
    empty = await get_json(client, URL, settings=settings)
    conflict = await get_json(client, URL, settings=settings, accept=frozenset({409}))

    assert (accepted.status, accepted.data) == (202, None)
    assert (empty.status, empty.data) == (204, None)
    assert (conflict.status, conflict.data) == (
        409,
        {"message": "Git Repository is empty."},
    )
