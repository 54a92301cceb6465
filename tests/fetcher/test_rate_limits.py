"""Case 007: GitHub's primary and secondary rate limits, told apart and shared.

The limiter gets a fake clock and sleeper, so each test asserts the delays
asked for instead of sleeping them. Unit tests answer through MockTransport;
the last ones run whole refreshes against the stand-in server on loopback.
"""

import asyncio
from collections.abc import Callable

import httpx
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.fetcher.errors import PermanentError, RateLimited
from app.fetcher.http import get_json
from app.fetcher.limiter import Limiters, UpstreamLimiter, use_limiters
from app.fetcher.refresh import refresh_packages
from app.models import FetchState
from tests.factories import make_package
from tests.fetcher.support import FakeClock, hits, json_response, stored

NOW = 1735689000  # the case's clock
RESET = 1735689600
API = "http://127.0.0.1:9"
REPO = f"{API}/repos/example-org/example-repo"
SECONDARY = {
    "message": "You have exceeded a secondary rate limit. Please wait a few "
    "minutes before you try again.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
}
PRIMARY = {
    "message": "API rate limit exceeded for user ID 1000001.",
    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
}
PRIMARY_HEADERS = {
    "x-ratelimit-limit": "5000",
    "x-ratelimit-remaining": "0",
    "x-ratelimit-used": "5000",
    "x-ratelimit-reset": str(RESET),
    "x-ratelimit-resource": "core",
}
REPO_BODY = {
    "full_name": "example-org/other-repo",
    "stargazers_count": 5,
    "forks_count": 0,
    "description": "",
}

Handler = Callable[[httpx.Request], httpx.Response]


def patient(settings: Settings) -> Settings:
    """Settings that wait out an hour-long limit, as case 007 expects, with
    8 requests in flight to one host (the halving below starts from it)."""
    return settings.model_copy(
        update={"fetch_rate_limit_max_wait": 3600.0, "fetch_host_concurrency": 8}
    )


def github_limiter(settings: Settings, clock: FakeClock) -> UpstreamLimiter:
    return Limiters(settings, clock=clock.time, sleep=clock.sleep).get("github")


def mock_client(handler: Handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_a_primary_limit_pauses_every_task_until_the_reset(
    settings: Settings,
) -> None:
    # Case 007 A: 8 packages at once; the quota is spent until RESET.
    clock = FakeClock(NOW)
    sent: list[tuple[str, float]] = []

    def github(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.path, clock.now))
        if clock.now < RESET:
            return httpx.Response(403, headers=PRIMARY_HEADERS, json=PRIMARY)
        return httpx.Response(200, json=REPO_BODY)

    waiting = patient(settings)
    limiter = github_limiter(waiting, clock)
    async with mock_client(github) as client:
        tasks = [
            asyncio.create_task(
                get_json(client, f"{REPO}-{n}", settings=waiting, limiter=limiter)
            )
            for n in range(8)
        ]
        await clock.until_asleep(8)
        paused = list(clock.delays), list(sent)
        clock.advance(601)
        replies = await asyncio.gather(*tasks)

    assert paused == (
        [601.0] * 8,  # reset - now + 1, asked by every task
        [("/repos/example-org/example-repo-0", NOW)],  # the others never sent
    )
    assert [reply.data for reply in replies] == [REPO_BODY] * 8
    assert sorted(sent[1:]) == [
        (f"/repos/example-org/example-repo-{n}", RESET + 1) for n in range(8)
    ]
    assert limiter.concurrency == patient(settings).host_concurrency == 8


async def test_a_secondary_limit_with_retry_after_pauses_everyone_and_halves_concurrency(
    settings: Settings,
) -> None:
    # Case 007 B: Retry-After 60 on the contributors of one of 8 packages.
    clock = FakeClock(NOW)
    sent: list[float] = []

    def github(request: httpx.Request) -> httpx.Response:
        sent.append(clock.now)
        if len(sent) == 1:
            return httpx.Response(
                403,
                headers={
                    "retry-after": "60",
                    "x-ratelimit-remaining": "4321",
                    "x-ratelimit-reset": "1735692000",
                },
                json=SECONDARY,
            )
        return httpx.Response(200, json=[{"login": "contributor-a"}])

    waiting = patient(settings)
    limiter = github_limiter(waiting, clock)
    async with mock_client(github) as client:
        tasks = [
            asyncio.create_task(
                get_json(
                    client,
                    f"{REPO}-{n}/contributors",
                    settings=waiting,
                    params={"per_page": 100},
                    limiter=limiter,
                )
            )
            for n in range(8)
        ]
        await clock.until_asleep(8)
        delays, concurrency = list(clock.delays), limiter.concurrency
        clock.advance(3600)
        replies = await asyncio.gather(*tasks)

    # After the pause, the 4321 calls left (less 50 kept back) are spread
    # over the 3000 s to the reset.
    spacing = 3000 / 4271
    assert limiter.spacing == spacing
    assert delays == [pytest.approx(60 + n * spacing) for n in range(8)]
    assert concurrency == 4
    assert sent[0] == NOW
    assert all(moment >= NOW + 60 for moment in sent[1:])
    assert [reply.data for reply in replies] == [[{"login": "contributor-a"}]] * 8


async def test_a_secondary_limit_without_retry_after_doubles_on_repeats(
    settings: Settings,
) -> None:
    # Case 007 C: named only in the body; 60, 120, 240 s, then the answer.
    clock = FakeClock(NOW, auto=True)
    answers = 0

    def github(request: httpx.Request) -> httpx.Response:
        nonlocal answers
        answers += 1
        if answers <= 3:
            return httpx.Response(
                403,
                headers={
                    "x-ratelimit-remaining": "4321",
                    "x-ratelimit-reset": "1735692000",
                },
                json=SECONDARY,
            )
        return httpx.Response(200, json={"stargazers_count": 1})

    limiter = github_limiter(patient(settings), clock)
    async with mock_client(github) as client:
        reply = await get_json(
            client, REPO, settings=patient(settings), limiter=limiter
        )

    assert reply.data == {"stargazers_count": 1}
    assert clock.delays == [60.0, 120.0, 240.0]
    assert (answers, limiter.concurrency) == (4, 1)  # 8 -> 4 -> 2 -> 1


async def test_secondary_waits_stop_doubling_at_the_cap(settings: Settings) -> None:
    clock = FakeClock(NOW, auto=True)
    limiter = github_limiter(patient(settings), clock)

    def github(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json=SECONDARY)

    async with mock_client(github) as client:
        with pytest.raises(RateLimited) as caught:
            await get_json(client, REPO, settings=patient(settings), limiter=limiter)

    assert clock.delays == [60.0, 120.0, 240.0, 480.0]
    assert caught.value.retry_after == 900.0  # the fifth pause, not waited
    assert str(caught.value) == "rate limited for 900 s"


async def test_a_429_waits_its_retry_after(settings: Settings) -> None:
    # Case 007 D.
    clock = FakeClock(NOW, auto=True)
    answers = [
        httpx.Response(429, headers={"retry-after": "30"}, json=SECONDARY),
        httpx.Response(200, json={"stargazers_count": 2}),
    ]
    limiter = github_limiter(patient(settings), clock)
    async with mock_client(lambda request: answers.pop(0)) as client:
        reply = await get_json(
            client, REPO, settings=patient(settings), limiter=limiter
        )

    assert (reply.data, clock.delays, answers) == ({"stargazers_count": 2}, [30.0], [])


async def test_a_plain_403_is_an_error_and_waits_for_nothing(
    settings: Settings,
) -> None:
    # Case 007 E.
    clock = FakeClock(NOW, auto=True)
    calls: list[httpx.Request] = []

    def github(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(
            403,
            headers={"x-ratelimit-remaining": "4999"},
            json={
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest",
            },
        )

    limiter = github_limiter(patient(settings), clock)
    async with mock_client(github) as client:
        with pytest.raises(PermanentError) as caught:
            await get_json(client, REPO, settings=patient(settings), limiter=limiter)

    assert str(caught.value) == "403 Resource not accessible by integration"
    assert (len(calls), clock.delays, limiter.paused_until) == (1, [], 0.0)


async def test_low_quota_on_a_success_holds_later_calls_until_the_reset(
    settings: Settings,
) -> None:
    # Case 007 F: the data is kept; the next call sleeps once, until the reset.
    clock = FakeClock(NOW, auto=True)
    sent: list[float] = []

    def github(request: httpx.Request) -> httpx.Response:
        sent.append(clock.now)
        return httpx.Response(
            200,
            headers={"x-ratelimit-remaining": "12", "x-ratelimit-reset": str(RESET)},
            json=REPO_BODY,
        )

    limiter = github_limiter(patient(settings), clock)
    async with mock_client(github) as client:
        first = await get_json(
            client, REPO, settings=patient(settings), limiter=limiter
        )
        second = await get_json(
            client, REPO, settings=patient(settings), limiter=limiter
        )

    assert first.data == second.data == REPO_BODY
    assert clock.delays == [601.0]
    assert sent == [NOW, RESET + 1]


async def test_requests_are_paced_to_make_the_quota_last(settings: Settings) -> None:
    # 1050 left, 600 s to the reset, 50 kept back: one call every 0.6 s.
    clock = FakeClock(NOW, auto=True)

    def github(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={
                "x-ratelimit-limit": "5000",
                "x-ratelimit-remaining": "1050",
                "x-ratelimit-reset": str(RESET),
            },
            json={},
        )

    limiter = github_limiter(patient(settings), clock)
    async with mock_client(github) as client:
        for _ in range(3):
            await get_json(client, REPO, settings=patient(settings), limiter=limiter)

    # Each call waits 0.6 s after the one before (float epoch seconds).
    assert clock.delays == [pytest.approx(0.6, abs=1e-6)] * 2


async def test_concurrency_comes_back_when_a_new_run_begins(settings: Settings) -> None:
    clock = FakeClock(NOW, auto=True)
    limiter = github_limiter(patient(settings), clock)
    answers = [
        httpx.Response(403, headers={"retry-after": "1"}, json=SECONDARY),
        httpx.Response(200, json={}),
    ]
    async with mock_client(lambda request: answers.pop(0)) as client:
        await get_json(client, REPO, settings=patient(settings), limiter=limiter)
    lowered = limiter.concurrency

    limiter.begin_run()

    assert (lowered, limiter.concurrency) == (4, 8)


@pytest.mark.usefixtures("category")
async def test_a_pause_longer_than_the_cap_ends_the_round_as_rate_limited(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    # Case 007 A with the default cap: not a failure, not gone, nothing blanked,
    # and the other package's request is never sent.
    for package_id in (1, 2):
        await make_package(
            sessionmaker,
            id=package_id,
            repo_url=f"https://github.com/example-org/repo-{package_id}",
            repo_watchers=50,
            last_exception_count=2,
        )
    for package_id in (1, 2):
        upstream.expect_request(
            f"/repos/example-org/repo-{package_id}"
        ).respond_with_response(
            json_response(PRIMARY, status=403, headers=PRIMARY_HEADERS)
        )
    clock = FakeClock(NOW)
    one_at_a_time = fetch_settings.model_copy(update={"fetch_host_concurrency": 1})
    use_limiters(
        http_client, Limiters(one_at_a_time, clock=clock.time, sleep=clock.sleep)
    )

    summary = await refresh_packages(one_at_a_time, sessionmaker, http_client)

    assert (summary.rate_limited, summary.failed, summary.updated) == (2, 0, 0)
    assert len(upstream.log) == 1
    assert clock.delays == []
    for package_id in (1, 2):
        package = await stored(sessionmaker, package_id)
        assert (package.repo_watchers, package.last_exception) == (50, None)
        assert (package.last_exception_count, package.last_fetched) == (2, None)
        async with sessionmaker() as session:
            state = await session.get(FetchState, (package_id, "repo"))
        assert state is not None
        assert (state.status, state.error_count, state.not_found_count) == (
            "rate_limited",
            0,
            0,
        )
        assert state.last_error == "rate limited for 601 s"


@pytest.mark.usefixtures("category")
async def test_a_plain_403_is_recorded_for_that_package_only(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    # Case 007 E in a whole run: the neighbour is fetched as usual.
    from tests.fetcher.test_github import serve_repo

    await make_package(
        sessionmaker, id=1, repo_url="https://github.com/example-org/private-thing"
    )
    await make_package(
        sessionmaker, id=2, repo_url="https://github.com/example-org/example-repo"
    )
    upstream.expect_request("/repos/example-org/private-thing").respond_with_response(
        json_response(
            {
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest",
            },
            status=403,
            headers={"x-ratelimit-remaining": "4999"},
        )
    )
    serve_repo(upstream, stars=12)

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    private, neighbour = await stored(sessionmaker, 1), await stored(sessionmaker, 2)
    assert private.last_exception == "403 Resource not accessible by integration"
    assert private.last_exception_count == 1
    assert (neighbour.repo_watchers, neighbour.last_exception) == (12, None)
    assert len(hits(upstream, "/repos/example-org/private-thing")) == 1
    assert (summary.updated, summary.failed, summary.rate_limited) == (1, 1, 0)
    async with sessionmaker() as session:
        state = await session.get(FetchState, (1, "repo"))
    assert state is not None
    assert (state.status, state.error_count, state.last_error) == (
        "failed",
        1,
        "403 Resource not accessible by integration",
    )


def test_the_host_cap_follows_fetch_concurrency_unless_set(settings: Settings) -> None:
    assert settings.model_copy(update={"fetch_concurrency": 12}).host_concurrency == 12
    capped = settings.model_copy(
        update={"fetch_concurrency": 12, "fetch_host_concurrency": 3}
    )
    assert capped.host_concurrency == 3
