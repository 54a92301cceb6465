"""The browsable API: ?format=api and browsers get an HTML page of the JSON."""

import re
from typing import Any

import httpx
import pytest
from markupsafe import escape
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.browsable.middleware import prefers_html, render_json
from tests.factories import make_category, make_package

SECURITY_HEADERS = (
    "x-content-type-options",
    "referrer-policy",
    "x-frame-options",
    "cross-origin-resource-policy",
    "content-security-policy",
)
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
    "image/webp,*/*;q=0.8"
)


def link(url: str) -> str:
    return f'"<a href="{url}" rel="nofollow">{url}</a>"'


def operation(document: dict[str, Any], path: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path]["get"]
    return found


def shown_headers(page: str) -> list[str]:
    meta = re.search(r'<span class="meta">(.*?)</span>', page, re.S)
    assert meta is not None
    return meta.group(1).splitlines()[1:]


async def test_the_api_root_as_a_page(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    root = operation(document, "/api/v4/")

    response = await client.get("/api/v4/?format=api")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["vary"] == "Accept"
    assert f"<title>{escape(root['summary'])} - Packages API</title>" in response.text
    assert f"<h1>{escape(root['summary'])}</h1>" in response.text
    assert root["description"] == "List the URLs of the API's resources."
    assert "<p>List the URLs of the API&#39;s resources.</p>" in response.text
    assert '<pre class="request"><b>GET</b> /api/v4/?format=api</pre>' in response.text
    assert '<span class="meta"><b>HTTP 200 OK</b>\n' in response.text
    assert {
        "<b>Content-Type:</b> application/json",
        "<b>Allow:</b> GET, HEAD, OPTIONS",
        "<b>Vary:</b> Accept",
    } <= set(shown_headers(response.text))
    assert (
        "</span>\n"
        "{\n"
        f'    "categories": {link("http://testserver/api/v4/categories/?format=api")},\n'
        f'    "grids": {link("http://testserver/api/v4/grids/?format=api")},\n'
        f'    "packages": {link("http://testserver/api/v4/packages/?format=api")}\n'
        "}</pre>"
    ) in response.text
    assert '<a href="/api/v4/?format=json">json</a>' in response.text


async def test_the_page_shows_the_headers_a_json_client_gets(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/api/v4/packages/", headers={"Accept": BROWSER_ACCEPT})
    answer = await client.get(
        "/api/v4/packages/", headers={"Accept": "application/json"}
    )

    names = {"etag": "ETag", "www-authenticate": "WWW-Authenticate"}
    expected = [
        f"<b>{names.get(name, '-'.join(p.capitalize() for p in name.split('-')))}:</b> "
        f"{escape(value)}"
        for name, value in answer.headers.items()
        # The security headers go on after the page is made, with its own policy.
        if name not in ("content-length", "x-request-id", *SECURITY_HEADERS)
    ]
    assert shown_headers(page.text) == expected


async def test_a_browser_gets_the_page_and_an_api_client_the_json(
    client: httpx.AsyncClient,
) -> None:
    browser = await client.get("/api/v4/", headers={"Accept": BROWSER_ACCEPT})
    api_client = await client.get("/api/v4/", headers={"Accept": "application/json"})
    anything = await client.get("/api/v4/", headers={"Accept": "*/*"})
    json_format = await client.get(
        "/api/v4/?format=json", headers={"Accept": BROWSER_ACCEPT}
    )

    assert browser.headers["content-type"] == "text/html; charset=utf-8"
    assert '<pre class="request"><b>GET</b> /api/v4/</pre>' in browser.text
    # Without ?format=api the links stay plain: the browser asks for HTML again.
    assert link("http://testserver/api/v4/packages/") in browser.text
    for response in (api_client, anything):
        assert response.headers["content-type"] == "application/json"
        assert response.headers["vary"] == "Accept"
        assert response.json() == {
            "categories": "http://testserver/api/v4/categories/",
            "grids": "http://testserver/api/v4/grids/",
            "packages": "http://testserver/api/v4/packages/",
        }
    assert json_format.headers["content-type"] == "application/json"
    assert json_format.json()["packages"] == (
        "http://testserver/api/v4/packages/?format=json"
    )


async def test_the_page_has_its_own_etag_and_revalidates_with_it(
    client: httpx.AsyncClient,
) -> None:
    api_client = await client.get("/api/v4/", headers={"Accept": "application/json"})
    browser = await client.get("/api/v4/", headers={"Accept": BROWSER_ACCEPT})
    json_tag, page_tag = api_client.headers["etag"], browser.headers["etag"]

    page_again = await client.get(
        "/api/v4/", headers={"Accept": BROWSER_ACCEPT, "If-None-Match": page_tag}
    )
    page_for_json_tag = await client.get(
        "/api/v4/", headers={"Accept": BROWSER_ACCEPT, "If-None-Match": json_tag}
    )
    json_for_page_tag = await client.get(
        "/api/v4/", headers={"Accept": "application/json", "If-None-Match": page_tag}
    )
    json_again = await client.get(
        "/api/v4/", headers={"Accept": "application/json", "If-None-Match": json_tag}
    )

    # Two representations, two tags: the page's is the JSON's, marked.
    assert page_tag == json_tag[:-1] + '-html"'
    assert (page_again.status_code, page_again.headers["etag"]) == (304, page_tag)
    assert page_again.content == b""
    # A tag names one representation only: the other is sent whole.
    assert page_for_json_tag.status_code == 200
    assert page_for_json_tag.headers["content-type"] == "text/html; charset=utf-8"
    assert page_for_json_tag.headers["etag"] == page_tag
    assert json_for_page_tag.status_code == 200
    assert json_for_page_tag.headers["etag"] == json_tag
    assert json_for_page_tag.json()["packages"] == "http://testserver/api/v4/packages/"
    assert (json_again.status_code, json_again.headers["etag"]) == (304, json_tag)


async def test_a_list_page_keeps_format_api_in_its_paging_links(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    for number in (1, 2, 3):
        await make_package(sessionmaker, id=number)

    response = await client.get("/api/v4/packages/?format=api&limit=1&offset=1")

    document = (await client.get("/openapi.json")).json()
    listing = operation(document, "/api/v4/packages/")
    assert f"<h1>{escape(listing['summary'])}</h1>" in response.text
    for paragraph in listing["description"].split("\n\n"):
        assert f"<p>{escape(' '.join(paragraph.split()))}</p>" in response.text
    assert (
        '<pre class="request"><b>GET</b> /api/v4/packages/?format=api&amp;limit=1'
        "&amp;offset=1</pre>"
    ) in response.text
    nxt = "http://testserver/api/v4/packages/?format=api&amp;limit=1&amp;offset=2"
    prev = "http://testserver/api/v4/packages/?format=api&amp;limit=1"
    assert f'    "next": {link(nxt)},\n' in response.text
    assert f'    "previous": {link(prev)},\n' in response.text
    assert '    "count": 3,\n' in response.text
    assert (
        '<a href="/api/v4/packages/?limit=1&amp;offset=1&amp;format=json">json</a>'
        in response.text
    )


async def test_hostile_text_is_escaped_on_the_page(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    await make_package(
        sessionmaker, id=7, title='</pre><script>alert("x")</script>', slug="evil"
    )

    response = await client.get(
        "/api/v4/packages/evil/?format=api&q=<img src=x onerror=alert(1)>"
    )

    assert response.status_code == 200
    assert "<script>" not in response.text
    assert "<img" not in response.text
    assert (
        '    "title": "&lt;/pre&gt;&lt;script&gt;alert(\\"x\\")&lt;/script&gt;",\n'
    ) in response.text
    assert (
        '<pre class="request"><b>GET</b> /api/v4/packages/evil/?format=api'
        "&amp;q=&lt;img src=x onerror=alert(1)&gt;</pre>"
    ) in response.text


async def test_an_error_is_a_page_with_its_status(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v4/packages/nope/?format=api")

    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<b>HTTP 404 Not Found</b>" in response.text
    assert '    "detail": "Not found.",\n' in response.text


async def test_writes_and_non_api_paths_are_never_pages(
    client: httpx.AsyncClient,
) -> None:
    post = await client.post(
        "/api/v4/packages/?format=api", json={}, headers={"Accept": BROWSER_ACCEPT}
    )
    health = await client.get("/healthz?format=api")

    assert post.status_code == 401
    assert post.headers["content-type"] == "application/problem+json"
    assert post.json()["detail"] == (
        "Authentication credentials were not provided: send "
        "'Authorization: Bearer <token>'."
    )
    assert health.json() == {"status": "ok"}


def test_an_attribute_cannot_be_broken_out_of_by_a_link() -> None:
    rendered = render_json(
        {"url": 'https://x.test/"onmouseover="alert(1)', "n": [1, None]}
    )

    assert str(rendered) == (
        "{\n"
        '    "url": "<a href="https://x.test/&#34;onmouseover=&#34;alert(1)" '
        'rel="nofollow">https://x.test/\\"onmouseover=\\"alert(1)</a>",\n'
        '    "n": [\n'
        "        1,\n"
        "        null\n"
        "    ]\n"
        "}"
    )


def test_only_http_urls_become_links() -> None:
    rendered = render_json(
        ["javascript:alert(1)", "ftp://x.test/", "https://ok.test/a"]
    )

    assert str(rendered) == (
        "[\n"
        '    "javascript:alert(1)",\n'
        '    "ftp://x.test/",\n'
        f"    {link('https://ok.test/a')}\n"
        "]"
    )


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("application/json", False),
        ("*/*", False),
        ("", False),
        ("text/html, application/json", False),
        ("text/html;q=0.5, application/json", False),
        ("application/json;q=0.5, text/html", True),
        ("text/html;q=0", False),
        ("text/html;q=banana", False),
    ],
)
def test_html_is_chosen_only_when_preferred_to_json(accept: str, html: bool) -> None:
    assert prefers_html(accept) is html
