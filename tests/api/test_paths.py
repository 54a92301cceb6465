"""Routing the v4 API answers on every path: slashes, methods, proxies, the root."""

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.api.bodies import category_body, grid_body, package_body
from tests.api.conftest import ClientFactory
from tests.api.problems import not_found, problem
from tests.factories import make_category, make_grid, make_package

READ_ONLY = "GET, HEAD, OPTIONS"
COLLECTION = "GET, POST, HEAD, OPTIONS"
ITEM = "GET, PATCH, DELETE, HEAD, OPTIONS"

PATHS = [
    ("/api/v4/", READ_ONLY),
    ("/api/v4/packages/", COLLECTION),
    ("/api/v4/packages/2403/", ITEM),
    ("/api/v4/packages/example-package/", ITEM),
    ("/api/v4/categories/", READ_ONLY),
    ("/api/v4/categories/1/", READ_ONLY),
    ("/api/v4/grids/", READ_ONLY),
    ("/api/v4/grids/7/", READ_ONLY),
    ("/api/v4/grids/grid-7/", READ_ONLY),
]


@pytest.fixture
async def catalogue(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await make_category(sessionmaker)
    await make_grid(sessionmaker, id=7)
    await make_package(sessionmaker, id=2403, slug="example-package", grid_ids=(7,))


async def test_root_lists_the_resources(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v4/")

    assert response.status_code == 200
    assert response.json() == {
        "categories": "http://testserver/api/v4/categories/",
        "grids": "http://testserver/api/v4/grids/",
        "packages": "http://testserver/api/v4/packages/",
    }


async def test_root_keeps_the_format_in_its_links(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v4/?format=json")

    assert response.json() == {
        "categories": "http://testserver/api/v4/categories/?format=json",
        "grids": "http://testserver/api/v4/grids/?format=json",
        "packages": "http://testserver/api/v4/packages/?format=json",
    }


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(("path", "allow"), PATHS)
async def test_every_path_answers_with_and_without_its_slash(
    client: httpx.AsyncClient, path: str, allow: str
) -> None:
    with_slash = await client.get(path)
    without_slash = await client.get(path.rstrip("/"))

    assert with_slash.status_code == 200
    assert without_slash.status_code == 200
    assert without_slash.json() == with_slash.json()
    assert with_slash.headers["allow"] == allow
    assert without_slash.headers["allow"] == allow


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(("path", "allow"), PATHS)
async def test_head_answers_like_get_without_a_body(
    client: httpx.AsyncClient, path: str, allow: str
) -> None:
    get = await client.get(path)
    head = await client.head(path.rstrip("/"))

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["allow"] == allow
    assert head.headers["content-type"] == "application/json"
    assert head.headers["content-length"] == str(len(get.content))


@pytest.mark.parametrize(("path", "allow"), PATHS)
async def test_options_lists_the_allowed_methods(
    client: httpx.AsyncClient, path: str, allow: str
) -> None:
    answers = [await client.options(path), await client.options(path.rstrip("/"))]

    expected = (200, allow, {"methods": allow.split(", ")})
    assert [(r.status_code, r.headers["allow"], r.json()) for r in answers] == [
        expected,
        expected,
    ]


async def test_options_on_an_unknown_path_is_not_found(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options("/api/v4/nothing-here/")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == not_found("/api/v4/nothing-here/")
    assert "allow" not in response.headers


async def test_an_unknown_path_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v4/nothing-here")

    assert response.status_code == 404
    assert response.json() == not_found("/api/v4/nothing-here/")


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/v4/packages/2403", ITEM),
        ("PUT", "/api/v4/packages/2403/", ITEM),
        ("POST", "/api/v4/packages/2403/", ITEM),
        ("DELETE", "/api/v4/packages", COLLECTION),
        ("PATCH", "/api/v4/packages/", COLLECTION),
        ("DELETE", "/api/v4/categories/1", READ_ONLY),
        ("PATCH", "/api/v4/categories/1/", READ_ONLY),
        ("POST", "/api/v4/grids/", READ_ONLY),
        ("DELETE", "/api/v4/grids/7", READ_ONLY),
        ("POST", "/api/v4", READ_ONLY),
    ],
)
async def test_a_wrong_method_is_405_with_allow_and_no_redirect(
    client: httpx.AsyncClient, auth: dict[str, str], method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path, headers=auth)

    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json() == problem(
        405, f'Method "{method}" not allowed.', path.rstrip("/") + "/"
    )


# Case 019: behind a TLS proxy on 127.0.0.1 that sends the client's scheme
# and host; the client itself is 203.0.113.10.
PROXIED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-For": "203.0.113.10",
    "Host": "packages.example.org",
}
PUBLIC = "https://packages.example.org/api/v4"


@pytest.mark.usefixtures("catalogue")
async def test_proxied_detail_without_slash_is_served_directly_with_https_links(
    client: httpx.AsyncClient,
) -> None:
    without_slash = await client.get("/api/v4/packages/2403", headers=PROXIED)
    with_slash = await client.get("/api/v4/packages/2403/", headers=PROXIED)
    by_slug = await client.get("/api/v4/packages/example-package/", headers=PROXIED)

    expected = package_body(2403, base=PUBLIC, grid_ids=(7,), slug="example-package")
    assert (without_slash.status_code, without_slash.json()) == (200, expected)
    assert (with_slash.status_code, with_slash.json()) == (200, expected)
    assert (by_slug.status_code, by_slug.json()) == (200, expected)


@pytest.mark.usefixtures("catalogue")
async def test_proxied_patch_without_slash_is_applied_not_redirected(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.patch(
        "/api/v4/packages/2403",
        headers={**PROXIED, **auth},
        json={"title": "Renamed Package"},
    )
    stored = await client.get("/api/v4/packages/2403/")

    assert response.status_code == 200
    assert response.json()["title"] == "Renamed Package"
    assert response.json()["category"] == f"{PUBLIC}/categories/1/"
    assert stored.json()["title"] == "Renamed Package"


async def test_proxied_list_links_are_https_on_the_public_host(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    await make_grid(sessionmaker, id=7)
    for package_id in (1, 2, 3):
        await make_package(sessionmaker, id=package_id, grid_ids=(7,))

    first = await client.get("/api/v4/packages/?limit=2&offset=0", headers=PROXIED)
    second = await client.get(first.json()["next"], headers=PROXIED)

    assert first.json() == {
        "count": 3,
        "next": f"{PUBLIC}/packages/?limit=2&offset=2",
        "previous": None,
        "results": [
            package_body(3, base=PUBLIC, grid_ids=(7,)),
            package_body(2, base=PUBLIC, grid_ids=(7,)),
        ],
    }
    assert second.json() == {
        "count": 3,
        "next": None,
        "previous": f"{PUBLIC}/packages/?limit=2",
        "results": [package_body(1, base=PUBLIC, grid_ids=(7,))],
    }


@pytest.mark.usefixtures("catalogue")
async def test_proxied_grid_and_root_links_are_https_on_the_public_host(
    client: httpx.AsyncClient,
) -> None:
    grid = await client.get("/api/v4/grids/7", headers=PROXIED)
    root = await client.get("/api/v4", headers=PROXIED)

    assert grid.json() == grid_body(7, base=PUBLIC, package_ids=(2403,))
    assert root.json() == {
        "categories": f"{PUBLIC}/categories/",
        "grids": f"{PUBLIC}/grids/",
        "packages": f"{PUBLIC}/packages/",
    }


@pytest.mark.usefixtures("catalogue")
async def test_forwarded_host_from_the_trusted_proxy_names_the_public_host(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/api/v4/packages/2403/?format=json",
        headers={
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "packages.example.org",
            "Host": "app.internal:8000",
        },
    )

    assert response.json()["category"] == f"{PUBLIC}/categories/1/?format=json"
    assert response.json()["grids"] == [f"{PUBLIC}/grids/7/?format=json"]


@pytest.mark.usefixtures("catalogue")
async def test_forwarded_headers_from_an_untrusted_client_are_ignored(
    client_with: ClientFactory,
) -> None:
    async with client_with(client_host="203.0.113.10") as untrusted:
        response = await untrusted.get(
            "/api/v4/packages/2403/",
            headers={
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "evil.example.net",
            },
        )

    assert response.json()["category"] == "http://testserver/api/v4/categories/1/"
    assert response.json()["grids"] == ["http://testserver/api/v4/grids/7/"]


@pytest.mark.usefixtures("catalogue")
async def test_a_listed_proxy_address_is_trusted(client_with: ClientFactory) -> None:
    async with client_with(
        client_host="10.0.0.5", forwarded_allow_ips="127.0.0.1, 10.0.0.5"
    ) as proxied:
        response = await proxied.get(
            "/api/v4/categories/1/", headers={"X-Forwarded-Proto": "https"}
        )
        package = await proxied.get("/api/v4/packages/2403/", headers=PROXIED)

    assert response.json() == category_body()
    assert package.json()["category"] == f"{PUBLIC}/categories/1/"
