"""A token never shows: not in the logs, not in an answer, not in /metrics.

A real `packages-api serve` on loopback logs JSON lines at DEBUG while a
token is used for everything a client does with one: reads, writes, every
kind of refusal, a wrong token that contains the right one, bodies and
query strings that carry it. Then the server's whole output, every answer
body and headers, and a scrape of /metrics are searched for the secret and
for its SHA-256 digest (what the database keeps).
"""

import hashlib
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.tokens import create_token
from tests.factories import make_category, make_grid, make_package
from tests.live import live_server


async def test_the_token_is_nowhere_in_logs_answers_or_metrics(
    database_url: str,
    tmp_path: Path,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await make_category(sessionmaker)
    await make_grid(sessionmaker, id=7)
    await make_package(sessionmaker, id=5, slug="five", grid_ids=(7,))
    await make_package(sessionmaker, id=6, slug="six")
    async with sessionmaker() as session:
        token = await create_token(session, "secrets", ["admin"])
        await session.commit()
    digest = hashlib.sha256(token.encode()).hexdigest()
    auth = {"Authorization": f"Bearer {token}"}
    wrong = {"Authorization": f"Bearer {token}x"}
    statuses: list[int] = []
    seen: list[str] = []

    with live_server(
        database_url,
        tmp_path,
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
        RATE_LIMIT_WRITES="30/minute",
        RATE_LIMIT_READS="200/minute",
    ) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            requests = [
                ("GET", "/api/v4/packages/five/", auth, None),
                ("GET", f"/api/v4/packages/?token={token}", auth, None),
                ("GET", f"/api/v4/packages/?limit={token}", {}, None),
                ("GET", f"/api/v4/search/?q={token}", {}, None),
                ("GET", f"/api/v4/packages/{token}/", auth, None),
                ("GET", f"/api/v4/packages/five/?format=api&t={token}", auth, None),
                ("PATCH", "/api/v4/packages/five/", auth, {"title": "Five"}),
                ("PATCH", "/api/v4/packages/five/", auth, {"slug": f"{token} x"}),
                ("PATCH", "/api/v4/packages/five/", auth, {"repo_url": token}),
                ("PATCH", "/api/v4/packages/five/", auth, {token: 1}),
                ("PATCH", "/api/v4/packages/five/", auth, {"title": [token]}),
                ("PATCH", "/api/v4/packages/five/", auth, {"slug": "six"}),
                ("PATCH", "/api/v4/packages/five/", wrong, {"title": token}),
                ("PATCH", f"/api/v4/packages/five/?token={token}", {}, {}),
                ("POST", "/api/v4/packages/", auth, {"title": token}),
                ("POST", "/api/v4/packages/", wrong, {"title": "x"}),
                ("POST", "/api/v4/grids/7/features/", auth, {"title": token * 3}),
                ("POST", "/api/v4/grids/7/packages/", auth, {"package": token}),
                ("POST", "/api/v4/packages/five/fetch/", auth, None),
                ("DELETE", f"/api/v4/packages/{token}/", auth, None),
                ("DELETE", "/api/v4/packages/six/", wrong, None),
                ("PUT", "/api/v4/packages/five/", auth, {"title": token}),
            ]
            for method, path, headers, body in requests:
                response = await client.request(
                    method, path, headers=headers, json=body
                )
                statuses.append(response.status_code)
                seen.append(response.text)
                seen.extend(f"{k}: {v}" for k, v in response.headers.multi_items())
            metrics = (await client.get("/metrics")).text
    output = server.log()

    assert statuses == [
        200, 200, 422, 200, 404, 200,
        200, 422, 422, 422, 422, 409, 401, 401,
        422, 401, 422, 422, 202,
        404, 401, 405,
    ]  # fmt: skip
    assert '"event":"request.finished"' in output
    assert 'packages_api_requests_total{method="PATCH"' in metrics
    for secret in (token, digest):
        leaks = [text[:300] for text in seen if secret in text]
        assert not leaks, "\n".join(leaks)
        assert secret not in metrics
        assert secret not in output
