"""What a hostile or careless client found once, kept as regular tests.

Each answer must be a 4xx that says what is wrong (or a 503 when the
database is away), never a 500, and no write may be lost or half-applied.
"""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.main import create_app
from tests.api.problems import invalid, not_found, problem
from tests.factories import make_category, make_grid, make_package

URL = "/api/v4/packages/5/"
NOT_JSON = (
    "Send the body as JSON, with Content-Type application/json or "
    "application/merge-patch+json."
)


@pytest.fixture
async def package(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[None]:
    await make_category(sessionmaker)
    await make_grid(sessionmaker, id=3)
    await make_package(sessionmaker, id=5, slug="five", title="Five")
    yield


@pytest.mark.usefixtures("package")
@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {},
    ],
)
async def test_a_body_not_sent_as_json_is_415(
    client: httpx.AsyncClient, auth: dict[str, str], headers: dict[str, str]
) -> None:
    patch = await client.patch(
        URL, headers={**auth, **headers}, content=b'{"title": "x"}'
    )
    post = await client.post(
        "/api/v4/packages/",
        headers={**auth, **headers},
        content=b'{"title": "x", "slug": "x", "category": 1}',
    )

    assert (patch.status_code, patch.json()) == (415, problem(415, NOT_JSON, URL))
    assert (post.status_code, post.json()) == (
        415,
        problem(415, NOT_JSON, "/api/v4/packages/"),
    )
    assert patch.headers["content-type"] == "application/problem+json"
    assert (await client.get(URL)).json()["title"] == "Five"


@pytest.mark.usefixtures("package")
async def test_a_key_sent_twice_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.patch(
        URL,
        headers={**auth, "Content-Type": "application/merge-patch+json"},
        content=b'{"title": "a", "title": "b"}',
    )

    assert response.status_code == 422
    assert response.json() == invalid(
        URL,
        "Invalid input: body.title.",
        [
            {
                "loc": ["body", "title"],
                "msg": "key appears twice",
                "type": "duplicate_key",
            }
        ],
    )
    assert (await client.get(URL)).json()["title"] == "Five"


@pytest.mark.usefixtures("package")
@pytest.mark.parametrize(
    "path",
    [
        "/api/v4/packages/fi%00ve/",
        "/api/v4/packages/5%00/",
        "/api/v4/grids/a%00b/",
        "/api/v4/categories/%00/",
    ],
)
async def test_a_nul_in_a_path_is_not_found(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert (response.status_code, response.json()) == (404, not_found(path))


@pytest.mark.usefixtures("package")
async def test_concurrent_edits_of_one_package_all_succeed_and_one_wins(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    titles = [f"title {n}" for n in range(20)]

    responses = await asyncio.gather(
        *(client.patch(URL, headers=auth, json={"title": title}) for title in titles)
    )

    assert [response.status_code for response in responses] == [200] * 20
    assert sorted(response.json()["title"] for response in responses) == sorted(titles)
    assert (await client.get(URL)).json()["title"] in titles


@pytest.mark.usefixtures("package")
async def test_an_edit_racing_a_delete_is_200_or_404_never_500(
    client: httpx.AsyncClient, auth: dict[str, str], admin_auth: dict[str, str]
) -> None:
    edits = [client.patch(URL, headers=auth, json={"grids": [3]}) for _ in range(5)]

    deleted, *edited = await asyncio.gather(
        client.delete(URL, headers=admin_auth), *edits
    )

    assert deleted.status_code == 204
    assert {response.status_code for response in edited} <= {200, 404}
    assert (await client.get(URL)).status_code == 404
    assert (await client.get("/api/v4/grids/3/")).json()["packages"] == []


async def test_the_service_root_points_at_the_api_and_its_docs(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/")

    assert response.status_code == 200
    assert response.json() == {
        "api": "http://testserver/api/v4/",
        "docs": "http://testserver/docs",
    }


async def test_an_unreachable_database_is_503_with_retry_after(
    settings: Settings,
) -> None:
    # Port 9 on loopback refuses at once: the database is down.
    away = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1:9/none"}
    )
    app = create_app(away)

    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        response = await client.get("/api/v4/packages/")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == problem(
        503, "The database is unavailable; try again shortly.", "/api/v4/packages/"
    )


TOO_LARGE = "The body is larger than 65536 bytes."


@pytest.mark.usefixtures("package")
async def test_a_body_over_64_kib_is_413_before_anything_else(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    big = b'{"title": "' + b"x" * 65536 + b'"}'

    patch = await client.patch(
        URL, headers={**auth, "Content-Type": "application/json"}, content=big
    )
    post = await client.post("/api/v4/packages/", content=big)  # no token either

    assert (patch.status_code, patch.json()) == (413, problem(413, TOO_LARGE, URL))
    assert (post.status_code, post.json()) == (
        413,
        problem(413, TOO_LARGE, "/api/v4/packages/"),
    )
    assert patch.headers["content-type"] == "application/problem+json"
    assert (await client.get(URL)).json()["title"] == "Five"


@pytest.mark.usefixtures("package")
async def test_a_streamed_body_is_cut_off_at_64_kib(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    response = await client.patch(
        URL, headers={**auth, "Content-Type": "application/json"}, content=chunks()
    )

    assert "content-length" not in response.request.headers
    assert (response.status_code, response.json()) == (
        413,
        problem(413, TOO_LARGE, URL),
    )


@pytest.mark.usefixtures("package")
async def test_a_body_of_exactly_64_kib_is_read(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    padding = 65536 - len(b'{"title": ""}')
    body = b'{"title": "' + b"x" * padding + b'"}'

    response = await client.patch(
        URL, headers={**auth, "Content-Type": "application/json"}, content=body
    )

    # Read whole, then refused by the schema: a title is 100 characters at most.
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "title"]


async def test_a_bug_is_a_500_problem_that_tells_nothing_of_it(
    settings: Settings, engine: AsyncEngine
) -> None:
    app = create_app(settings, engine=engine)

    async def broken() -> None:
        raise RuntimeError("SELECT secret FROM internals")

    app.add_api_route("/api/v4/broken/", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as c,
    ):
        response = await c.get("/api/v4/broken/")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    # It goes out through every layer, like any other answer.
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert len(response.headers["x-request-id"]) == 32
    assert response.json() == {
        "type": "https://www.rfc-editor.org/rfc/rfc9110#section-15.6.1",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "Something went wrong on our side; it has been logged.",
        "instance": "/api/v4/broken/",
    }


@pytest.mark.usefixtures("package")
@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (
            '{"title": "utf16"}'.encode("utf-16"),
            "The body is not UTF-8 text.",
        ),
        # Bodies FastAPI's own parser gives up on before any check of ours.
        (b"\xff\xfe{", "The body is not UTF-8 text."),
        (b'{"title": "\xff"}', "The body is not UTF-8 text."),
        (
            b"[" * 20000 + b"]" * 20000,
            "The body's JSON nests arrays and objects deeper than 32 levels.",
        ),
        (
            b'{"title": ' + b"[" * 33 + b"]" * 33 + b"}",
            "The body's JSON nests arrays and objects deeper than 32 levels.",
        ),
        (
            b'{"title": ' + b"[" * 600 + b"]" * 600 + b"}",
            "The body's JSON nests arrays and objects deeper than 32 levels.",
        ),
    ],
)
async def test_a_body_not_utf8_or_nested_too_deep_is_400_and_changes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], content: bytes, detail: str
) -> None:
    response = await client.patch(
        URL, headers={**auth, "Content-Type": "application/json"}, content=content
    )

    assert (response.status_code, response.json()) == (
        400,
        problem(400, detail, URL),
    )
    assert (await client.get(URL)).json()["title"] == "Five"


@pytest.mark.usefixtures("package")
@pytest.mark.parametrize(
    ("content", "loc", "msg", "kind"),
    [
        (
            b'{"id": ' + b"7" * 5000 + b"}",
            ["body", "id"],
            "is a number of 5000 digits; a number may have at most 4300",
            "number_too_long",
        ),
        (
            b'{"title": "x", "grids": [3, -' + b"1" * 4301 + b"]}",
            ["body", "grids", 1],
            "is a number of 4301 digits; a number may have at most 4300",
            "number_too_long",
        ),
        (
            b'{"grids": [{"id": 1, "id": 2}]}',
            ["body", "grids", 0, "id"],
            "key appears twice",
            "duplicate_key",
        ),
    ],
)
async def test_a_number_too_long_to_read_or_a_nested_key_twice_is_422_naming_it(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    content: bytes,
    loc: list[str | int],
    msg: str,
    kind: str,
) -> None:
    response = await client.patch(
        URL, headers={**auth, "Content-Type": "application/json"}, content=content
    )

    place = ".".join(str(part) for part in loc)
    assert (response.status_code, response.json()) == (
        422,
        invalid(
            URL,
            f"Invalid input: {place}.",
            [{"loc": loc, "msg": msg, "type": kind}],
        ),
    )
    assert (await client.get(URL)).json()["title"] == "Five"


@pytest.mark.usefixtures("package")
async def test_json_nested_to_the_limit_is_read_and_judged_by_the_schema(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    body = b'{"title": ' + b"[" * 31 + b"]" * 31 + b"}"
    response = await client.patch(
        URL, headers={**auth, "Content-Type": "application/json"}, content=body
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "title"]
