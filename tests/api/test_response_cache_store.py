"""The response cache's own rules, around a small ASGI app that counts calls."""

import asyncio

import httpx
from starlette.types import Receive, Scope, Send

from app.api.response_cache import Freshness, ResponseCache


class Counting:
    """Answers `size` bytes of public JSON; can be held mid-answer."""

    def __init__(self, size: int = 10) -> None:
        self.calls = 0
        self.size = size
        self.hold: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        number = self.calls
        self.started.set()
        if self.hold is not None:
            await self.hold.wait()
        await asyncio.sleep(0)  # let other requests in, as a real answer would
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"cache-control", b"public, max-age=0"),
                    (b"etag", f'"{number}"'.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"x" * self.size})


def client_for(
    inner: Counting, max_bytes: int = 2**20
) -> tuple[httpx.AsyncClient, Freshness, ResponseCache]:
    freshness = Freshness()
    freshness.heard()
    cache = ResponseCache(inner, max_bytes=max_bytes, freshness=freshness)
    transport = httpx.ASGITransport(app=cache)
    client = httpx.AsyncClient(transport=transport, base_url="http://test")
    return client, freshness, cache


async def test_an_answer_built_across_a_change_is_not_kept() -> None:
    inner = Counting()
    client, freshness, _ = client_for(inner)
    inner.hold = asyncio.Event()
    building = asyncio.create_task(client.get("/a"))
    await inner.started.wait()
    freshness.changed()  # heard while the answer was being built
    inner.hold.set()
    first = await building
    inner.hold = None
    second = await client.get("/a")
    third = await client.get("/a")

    assert [first.headers["etag"], second.headers["etag"], third.headers["etag"]] == [
        '"1"',
        '"2"',
        '"2"',
    ]
    assert inner.calls == 2


async def test_a_change_forgets_everything_and_deafness_bypasses() -> None:
    inner = Counting()
    client, freshness, _ = client_for(inner)
    await client.get("/a")
    await client.get("/b")
    await client.get("/a")
    freshness.changed()
    await client.get("/a")
    freshness.deaf()
    await client.get("/a")
    await client.get("/a")

    assert inner.calls == 5


async def test_writes_forget_what_was_kept() -> None:
    inner = Counting()
    client, _, _ = client_for(inner)
    await client.get("/a")
    await client.post("/a")
    await client.get("/a")
    await client.get("/a")

    assert inner.calls == 3


async def test_memory_is_bounded_and_large_answers_are_not_kept() -> None:
    inner = Counting(size=3_000)
    client, _, cache = client_for(inner, max_bytes=64_000)
    for name in range(30):
        await client.get(f"/{name}")

    assert cache.entries.currsize <= 64_000
    # An entry is its body, its headers and 200 bytes of bookkeeping: 19 of
    # about 3,266 bytes fit, the least recently used went out.
    assert sorted(key[3] for key in cache.entries) == sorted(
        f"/{name}" for name in range(11, 30)
    )

    big = Counting(size=5_000)
    client, _, _ = client_for(big, max_bytes=64_000)  # at most 4,000 per answer
    await client.get("/big")
    await client.get("/big")
    assert big.calls == 2


async def test_waiters_share_an_answer_built_across_a_change_and_later_ones_build_anew() -> (
    None
):
    inner = Counting()
    client, freshness, cache = client_for(inner)
    inner.hold = asyncio.Event()
    first = asyncio.create_task(client.get("/a"))
    await inner.started.wait()
    waiters = [asyncio.create_task(client.get("/a")) for _ in range(3)]
    await asyncio.sleep(0.01)
    freshness.changed()  # heard while the first answer is being built
    late = asyncio.create_task(client.get("/a"))
    await asyncio.sleep(0.01)
    inner.hold.set()
    answers = [await first, *[await waiter for waiter in waiters]]
    after = await late
    inner.hold = None

    assert [answer.headers["etag"] for answer in answers] == ['"1"'] * 4
    assert after.headers["etag"] == '"2"'
    assert cache.building == {}
    # The answer begun after the change is the one kept.
    assert (await client.get("/a")).headers["etag"] == '"2"'
    assert inner.calls == 2
