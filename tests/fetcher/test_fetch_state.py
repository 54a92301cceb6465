"""Every failure kind with its own answer, as recorded in FetchState (case 005).

Whole refreshes against the stand-in GitHub and PyPI on loopback; each test
reads back the package and its per-source FetchState rows.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from werkzeug import Request, Response

from app.config import Settings
from app.db.base import utcnow
from app.fetcher.bookkeeping import SourceRun, next_state
from app.fetcher.client import create_http_client
from app.fetcher.errors import clean_error_text
from app.fetcher.refresh import refresh_packages
from app.fetcher.repository import SourceState
from app.models import FetchState, Package
from tests.factories import make_fetch_state, make_package
from tests.fetcher.support import Slow, hits, json_response, load, replay, stored
from tests.fetcher.test_github import (
    EXAMPLE,
    OCTOKIT_NEW,
    OCTOKIT_OLD,
    serve_octokit_rename,
    serve_repo,
    serve_repo_endpoints,
)

pytestmark = pytest.mark.usefixtures("category")

GONE = "/repos/example-org/gone-repo"
GONE_URL = "https://github.com/example-org/gone-repo"
WEEKS = [0] * 51 + [2]
NOT_FOUND = {
    "message": "Not Found",
    "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository",
}


async def state_of(
    sessionmaker: async_sessionmaker[AsyncSession],
    package_id: int,
    source: str = "repo",
) -> FetchState:
    async with sessionmaker() as session:
        state = await session.get(FetchState, (package_id, source))
    assert state is not None
    return state


async def move_evidence_back(
    sessionmaker: async_sessionmaker[AsyncSession], package_id: int, days: int
) -> None:
    """As if the first 404 had come `days` earlier: time passing, without waiting."""
    async with sessionmaker() as session:
        state = await session.get(FetchState, (package_id, "repo"))
        assert state is not None and state.not_found_since is not None
        state.not_found_since -= timedelta(days=days)
        await session.commit()


async def test_a_repository_is_gone_only_after_404s_spaced_apart(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    # Case 005 A, over time: FETCH_GONE_AFTER=3 404s, FETCH_GONE_SPACING=1 day.
    assert (fetch_settings.fetch_gone_after, fetch_settings.fetch_gone_spacing) == (
        3,
        timedelta(days=1),
    )
    await make_package(
        sessionmaker,
        id=6001,
        repo_url=GONE_URL,
        repo_watchers=77,
        commits_over_52=WEEKS,
    )
    upstream.expect_request(GONE).respond_with_response(
        json_response(NOT_FOUND, status=404, headers={"x-ratelimit-remaining": "4970"})
    )

    await refresh_packages(fetch_settings, sessionmaker, http_client)
    first = await state_of(sessionmaker, 6001)
    await refresh_packages(fetch_settings, sessionmaker, http_client)
    soon_after = await state_of(sessionmaker, 6001)
    await move_evidence_back(sessionmaker, 6001, days=1)
    await refresh_packages(fetch_settings, sessionmaker, http_client)
    a_day_later = await state_of(sessionmaker, 6001)
    await move_evidence_back(sessionmaker, 6001, days=1)
    await refresh_packages(fetch_settings, sessionmaker, http_client)
    two_days_later = await state_of(sessionmaker, 6001)

    assert (first.status, first.not_found_count, first.gone_at) == (
        "not_found",
        1,
        None,
    )
    assert first.not_found_since == first.last_attempt_at
    assert (first.error_count, first.last_error) == (1, "404 Not Found")
    # Too soon to count again.
    assert (soon_after.status, soon_after.not_found_count) == ("not_found", 1)
    assert soon_after.not_found_since == first.not_found_since
    assert (a_day_later.status, a_day_later.not_found_count) == ("not_found", 2)
    assert a_day_later.gone_at is None
    assert (two_days_later.status, two_days_later.not_found_count) == ("gone", 3)
    assert two_days_later.gone_at == two_days_later.last_attempt_at
    assert two_days_later.error_count == 4
    package = await stored(sessionmaker, 6001)
    assert (package.repo_watchers, package.commits_over_52) == (77, WEEKS)
    assert (package.last_exception, package.last_exception_count) == (
        "404 Not Found",
        4,
    )
    assert len(hits(upstream, GONE)) == 4  # one a run: a 404 is not retried


def broken_body(request: Request) -> Response:
    """Headers, the start of the body, then the connection drops."""

    def body() -> Any:
        yield b'{"stargazers_count": 1'
        raise ConnectionResetError("dropped mid-body")

    return Response(
        body(), headers={"Content-Type": "application/json", "Content-Length": "200"}
    )


def answer_503(upstream: HTTPServer) -> Callable[[], None]:
    upstream.expect_request(GONE).respond_with_data("down", status=503)
    return lambda: None


def answer_late(upstream: HTTPServer) -> Callable[[], None]:
    slow = Slow(0.4, json_response({}))
    upstream.expect_request(GONE).respond_with_handler(slow)
    return slow.settle  # type: ignore[return-value]


def answer_limited(upstream: HTTPServer) -> Callable[[], None]:
    reset = int(utcnow().timestamp()) + 600
    upstream.expect_request(GONE).respond_with_response(
        json_response(
            {"message": "API rate limit exceeded for user ID 1000001."},
            status=403,
            headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
        )
    )
    return lambda: None


def answer_reset(upstream: HTTPServer) -> Callable[[], None]:
    upstream.expect_request(GONE).respond_with_handler(broken_body)
    return lambda: None


@pytest.mark.parametrize(
    ("answer", "status", "error"),
    [
        (answer_503, "failed", "transient: 503"),
        (answer_late, "failed", "transient: timeout"),
        (answer_reset, "failed", "transient: connection failed"),
        (answer_limited, "rate_limited", None),
    ],
)
async def test_no_answer_but_a_404_counts_towards_gone(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    upstream: HTTPServer,
    answer: Callable[[HTTPServer], Callable[[], Any]],
    status: str,
    error: str | None,
) -> None:
    # Case 005 B/C and 007: two 404s counted, then 5xx, timeouts, a reset, a limit.
    since = utcnow() - timedelta(days=3)
    await make_package(sessionmaker, id=6001, repo_url=GONE_URL, repo_watchers=77)
    await make_fetch_state(
        sessionmaker,
        package_id=6001,
        status="not_found",
        error_count=2,
        not_found_count=2,
        not_found_since=since,
    )
    settle = answer(upstream)
    impatient = fetch_settings.model_copy(
        update={"fetch_timeout": 0.1, "fetch_retries": 2}
    )

    async with create_http_client(impatient) as client:
        await refresh_packages(impatient, sessionmaker, client)
    if (waiting := settle()) is not None:
        await waiting

    state = await state_of(sessionmaker, 6001)
    assert state.status == status
    assert (state.not_found_count, state.not_found_since, state.gone_at) == (
        2,
        since,
        None,
    )
    package = await stored(sessionmaker, 6001)
    assert package.repo_watchers == 77
    if error is not None:
        assert (state.last_error, state.error_count) == (error, 3)
        assert package.last_exception == error
    else:
        assert (state.error_count, package.last_exception) == (2, None)


async def test_a_repository_that_answers_again_clears_the_evidence(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    # Case 005 D: gone, then a 200.
    earlier = utcnow() - timedelta(days=5)
    await make_package(
        sessionmaker,
        id=6001,
        repo_url=GONE_URL,
        repo_watchers=77,
        last_exception="404 Not Found",
        last_exception_count=3,
    )
    await make_fetch_state(
        sessionmaker,
        package_id=6001,
        status="gone",
        error_count=3,
        last_error="404 Not Found",
        not_found_count=3,
        not_found_since=earlier,
        gone_at=earlier + timedelta(days=2),
    )
    serve_repo(upstream, GONE, stars=80)

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    state = await state_of(sessionmaker, 6001)
    assert (state.status, state.error_count, state.last_error) == ("ok", 0, None)
    assert (state.not_found_count, state.not_found_since, state.gone_at) == (
        0,
        None,
        None,
    )
    assert state.last_success_at == state.last_attempt_at
    package = await stored(sessionmaker, 6001)
    assert (package.repo_watchers, package.last_exception_count) == (80, 0)
    assert summary.updated == 1


BLOCKED_451 = {
    "message": "Repository access blocked",
    "block": {
        "reason": "dmca",
        "created_at": "2021-04-22T17:53:56Z",
        "html_url": "https://github.com/github/dmca/blob/master/2021/04/2021-04-20-placeholder.md",
    },
}
BLOCKED_403 = {
    "message": "Repository access blocked",
    "block": {
        "reason": "tos",
        "created_at": "2021-06-08T01:02:15Z",
        "html_url": "https://github.com/tos",
    },
}


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (451, BLOCKED_451, "451 Repository access blocked (dmca)"),
        (403, BLOCKED_403, "403 Repository access blocked (tos)"),
    ],
)
async def test_a_blocked_repository_is_not_asked_again_before_its_cooldown(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
    status: int,
    body: dict[str, Any],
    error: str,
) -> None:
    await make_package(
        sessionmaker, id=1, repo_url=GONE_URL, repo_watchers=77, commits_over_52=WEEKS
    )
    upstream.expect_oneshot_request(GONE).respond_with_response(
        json_response(body, status=status)
    )

    await refresh_packages(fetch_settings, sessionmaker, http_client)
    blocked = await state_of(sessionmaker, 1)
    after_block = await stored(sessionmaker, 1)
    second = await refresh_packages(fetch_settings, sessionmaker, http_client)
    still_blocked = await state_of(sessionmaker, 1)

    assert (blocked.status, blocked.last_error, blocked.error_count) == (
        "blocked",
        error,
        1,
    )
    assert blocked.cooldown_until == blocked.last_attempt_at + timedelta(days=7)
    assert blocked.not_found_count == 0
    assert len(upstream.log) == 1  # no retry, no other endpoint, no second ask
    assert still_blocked.last_attempt_at == blocked.last_attempt_at
    assert (second.unchanged, second.failed) == (1, 0)
    package = await stored(sessionmaker, 1)
    assert (package.repo_watchers, package.commits_over_52) == (77, WEEKS)
    assert (package.last_exception, package.last_exception_count) == (error, 1)
    assert package.last_fetched is after_block.last_fetched is None

    # Once the cooldown has passed, it is asked again.
    async with sessionmaker() as session:
        await session.execute(
            update(FetchState).values(cooldown_until=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    serve_repo(upstream, GONE, stars=78)
    await refresh_packages(fetch_settings, sessionmaker, http_client)
    cleared = await state_of(sessionmaker, 1)
    assert (cleared.status, cleared.cooldown_until, cleared.error_count) == (
        "ok",
        None,
        0,
    )
    assert (await stored(sessionmaker, 1)).repo_watchers == 78


async def test_a_contributor_list_too_large_keeps_the_stored_participants(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker,
        id=1,
        repo_url="https://github.com/example-org/example-repo",
        participants=["old-a", "old-b"],
    )
    upstream.expect_request(f"{EXAMPLE}/contributors").respond_with_response(
        json_response(
            {
                "message": "The history or contributor list is too large to list contributors for this repository via the API.",
                "documentation_url": "https://docs.github.com/rest/repos/repos#list-repository-contributors",
            },
            status=403,
        )
    )
    serve_repo(upstream, stars=900, weeks=[3] * 52)

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert package.participants == ["old-a", "old-b"]
    assert (package.repo_watchers, package.commits_over_52) == (900, [3] * 52)
    assert package.last_updated == datetime(2025, 1, 9, 12, tzinfo=UTC)
    assert (package.last_exception, package.last_exception_count) == (None, 0)
    assert len(hits(upstream, f"{EXAMPLE}/contributors")) == 1
    assert (await state_of(sessionmaker, 1)).status == "ok"
    assert (summary.updated, summary.failed) == (1, 0)


async def test_a_renamed_repository_keeps_its_old_url_on_record(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    old_url = f"https://github.com{OCTOKIT_OLD.removeprefix('/repos')}"
    new_url = f"https://github.com{OCTOKIT_NEW.removeprefix('/repos')}"
    await make_package(sessionmaker, id=1, repo_url=old_url)
    serve_octokit_rename(upstream)

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    assert (await stored(sessionmaker, 1)).repo_url == new_url
    state = await state_of(sessionmaker, 1)
    assert (state.previous_urls, state.status) == ([old_url], "ok")


async def test_a_rename_onto_a_claimed_repository_records_no_move(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    old_url = f"https://github.com{OCTOKIT_OLD.removeprefix('/repos')}"
    await make_package(sessionmaker, id=1, repo_url=old_url)
    await make_package(
        sessionmaker, id=2, repo_url=f"https://github.com{OCTOKIT_NEW[6:]}"
    )
    serve_octokit_rename(upstream)

    await refresh_packages(
        fetch_settings, sessionmaker, http_client, slugs=["package-1"]
    )

    assert (await stored(sessionmaker, 1)).repo_url == old_url
    assert (await state_of(sessionmaker, 1)).previous_urls == []


HELLO = "/repos/octokit-fixture-org/hello-world"
HELLO_ETAG = load("github/repos-octokit-fixture-org-hello-world.json")["headers"][
    "ETag"
]
ENDPOINT_ETAGS = {
    "repo": HELLO_ETAG,
    "contributors": 'W/"contributors-1"',
    "commits": 'W/"commits-1"',
    "participation": 'W/"participation-1"',
}


def answering_304_to(etag: str, full: Response) -> Callable[[Request], Response]:
    """The full answer, or a bodiless 304 to a request that sends `etag`."""

    def answer(request: Request) -> Response:
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return full

    return answer


def serve_hello_world(upstream: HTTPServer) -> None:
    upstream.expect_request(HELLO).respond_with_handler(
        answering_304_to(
            HELLO_ETAG,
            replay(upstream, "github/repos-octokit-fixture-org-hello-world.json"),
        )
    )
    answers = {
        "contributors": [{"login": "octocat", "type": "User"}],
        "commits": [{"commit": {"committer": {"date": "2017-09-19T15:57:54Z"}}}],
        "stats/participation": {"all": [1] * 52},
    }
    for endpoint, body in answers.items():
        etag = ENDPOINT_ETAGS[endpoint.removeprefix("stats/")]
        upstream.expect_request(f"{HELLO}/{endpoint}").respond_with_handler(
            answering_304_to(etag, json_response(body, headers={"ETag": etag}))
        )


async def test_etags_are_kept_and_sent_and_a_304_changes_nothing(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker,
        id=1,
        repo_url="https://github.com/octokit-fixture-org/hello-world",
        repo_watchers=3,
    )
    serve_hello_world(upstream)

    first = await refresh_packages(fetch_settings, sessionmaker, http_client)
    after_first = await state_of(sessionmaker, 1)
    first_requests = len(upstream.log)
    # Stored values a 304 must leave alone, whatever the upstream held.
    async with sessionmaker() as session:
        await session.execute(
            update(Package)
            .where(Package.id == 1)
            .values(participants=["kept"], commits_over_52=WEEKS, repo_watchers=41)
        )
        await session.commit()
    second = await refresh_packages(fetch_settings, sessionmaker, http_client)
    after_second = await state_of(sessionmaker, 1)

    assert (first.updated, second.unchanged, second.failed) == (1, 1, 0)
    assert after_first.etags == ENDPOINT_ETAGS
    sent = [request.headers.get("If-None-Match") for request, _ in upstream.log]
    assert sent[:first_requests] == [None] * 4
    assert sorted(sent[first_requests:]) == sorted(ENDPOINT_ETAGS.values())
    assert [response.status_code for _, response in upstream.log[4:]] == [304] * 4
    package = await stored(sessionmaker, 1)
    assert (package.participants, package.commits_over_52) == (["kept"], WEEKS)
    assert (package.repo_watchers, package.repo_description) == (41, "")
    assert package.last_updated == datetime(2017, 9, 19, 15, 57, 54, tzinfo=UTC)
    assert (after_second.status, after_second.etags) == ("ok", ENDPOINT_ETAGS)
    assert after_first.last_success_at is not None
    assert after_second.last_success_at is not None
    assert after_second.last_success_at > after_first.last_success_at
    assert (package.last_exception, package.last_exception_count) == (None, 0)


async def test_pypi_is_asked_conditionally_too(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    etag = '"pypi-example-pkg-1"'
    await make_package(sessionmaker, id=1, pypi_url="example-pkg")
    upstream.expect_request("/pypi/example-pkg/json").respond_with_handler(
        answering_304_to(
            etag,
            json_response(
                {"info": {"version": "1.0"}, "releases": {}}, headers={"ETag": etag}
            ),
        )
    )

    await refresh_packages(fetch_settings, sessionmaker, http_client)
    async with sessionmaker() as session:
        await session.execute(
            update(Package).where(Package.id == 1).values(pypi_version="0.9-kept")
        )
        await session.commit()
    second = await refresh_packages(fetch_settings, sessionmaker, http_client)

    state = await state_of(sessionmaker, 1, "pypi")
    assert (state.status, state.etags) == ("ok", {"project": etag})
    assert [response.status_code for _, response in upstream.log] == [200, 304]
    assert (await stored(sessionmaker, 1)).pypi_version == "0.9-kept"
    assert second.unchanged == 1


async def test_a_connection_reset_mid_body_is_retried(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    await make_package(
        sessionmaker, id=1, repo_url="https://github.com/example-org/example-repo"
    )
    upstream.expect_oneshot_request(EXAMPLE).respond_with_handler(broken_body)
    serve_repo(upstream, stars=11)

    summary = await refresh_packages(fetch_settings, sessionmaker, http_client)

    package = await stored(sessionmaker, 1)
    assert (package.repo_watchers, package.last_exception) == (11, None)
    assert len(hits(upstream, EXAMPLE)) == 2
    assert (await state_of(sessionmaker, 1)).status == "ok"
    assert summary.updated == 1


async def test_stored_errors_never_hold_a_token(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    token = "t0ken-abcdef123456"
    await make_package(sessionmaker, id=1, repo_url=GONE_URL)
    upstream.expect_request(GONE).respond_with_response(
        json_response(
            {
                "message": f"Bad credentials: sent token {token}, as Authorization: Bearer {token}"
            },
            status=401,
        )
    )
    with_token = fetch_settings.model_copy(update={"github_token": SecretStr(token)})

    await refresh_packages(with_token, sessionmaker, http_client)

    expected = "401 Bad credentials: sent token [redacted], as [redacted]"
    assert (await stored(sessionmaker, 1)).last_exception == expected
    assert (await state_of(sessionmaker, 1)).last_error == expected


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("Authorization: Bearer abc.def", "[redacted]"),
        ("token ghp_0123456789abcdefghijABCDEFGHIJ", "[redacted]"),
        ("sent ghp_0123456789abcdefghijABCDEFGHIJ", "sent [redacted]"),
        ("bad github_pat_11ABCDEFG0123456789_abcdefghij", "bad [redacted]"),
        (
            "GET https://user:secret@example.org/x?access_token=s3cr3t&page=2",
            "GET https://[redacted]@example.org/x?access_token=[redacted]&page=2",
        ),
        ("404 Not Found", "404 Not Found"),
        # A column takes neither a NUL nor a lone surrogate.
        ("404 Not\x00Found\ud800", "404 Not\ufffdFound\ufffd"),
    ],
)
def test_error_text_is_cleaned_of_credentials(text: str, cleaned: str) -> None:
    assert clean_error_text(text) == cleaned


def test_unsupported_fields_are_recorded(settings: Settings) -> None:
    run = SourceRun.start(SourceState())
    run.fetched = True
    run.unsupported = frozenset({"repo_watchers", "participants"})
    now = datetime(2025, 1, 1, tzinfo=UTC)

    values = next_state(run, now=now, settings=settings, secrets=[])

    assert values["unsupported"] == ["participants", "repo_watchers"]
    assert (values["status"], values["last_success_at"]) == ("ok", now)


async def test_a_later_rename_adds_to_the_previous_urls(
    fetch_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    http_client: httpx.AsyncClient,
    upstream: HTTPServer,
) -> None:
    first_url = "https://github.com/first-owner/first-name"
    old_url = "https://github.com/old-owner/old-name"
    await make_package(sessionmaker, id=1, repo_url=old_url)
    await make_fetch_state(sessionmaker, package_id=1, previous_urls=[first_url])
    upstream.expect_request("/repos/old-owner/old-name").respond_with_response(
        json_response(
            {
                "full_name": "new-owner/new-name",
                "html_url": "https://github.com/new-owner/new-name",
                "stargazers_count": 1,
                "forks_count": 0,
            }
        )
    )
    serve_repo_endpoints(upstream, "/repos/new-owner/new-name")

    await refresh_packages(fetch_settings, sessionmaker, http_client)

    state = await state_of(sessionmaker, 1)
    assert state.previous_urls == [first_url, old_url]
