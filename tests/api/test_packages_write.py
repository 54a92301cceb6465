"""Editing packages with a token: merge patches, creation and removal.

The stored package and the requests follow case 017 (null against absent,
read-only keys), case 020 (the answer after a commit, concurrent stats) and
the write side of case 016 (invalid and duplicate repository URLs).
"""

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.auth.tokens import create_token
from app.catalog.schemas import CatalogDocument
from app.catalog.service import import_catalog
from app.models import Package
from app.packages import repository
from tests.api.bodies import package_body
from tests.api.conftest import ClientFactory, Statements
from tests.api.problems import invalid, not_found, problem
from tests.factories import EPOCH, make_category, make_grid, make_package

URL = "/api/v4/packages/2403/"
OTHER_URL = "/api/v4/packages/2404/"
NEW_URL = "/api/v4/packages/"
NO_CREDENTIALS = "Authentication credentials were not provided: send 'Authorization: Bearer <token>'."
INVALID_TOKEN = "Invalid token."
CHALLENGE = 'Bearer realm="packages-api"'


@pytest.fixture
async def example(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Case 017's stored package 2403 (in grids 7 and 9) beside package 2404."""
    await make_category(sessionmaker)
    await make_category(
        sessionmaker,
        id=2,
        title="Framework",
        slug="frameworks",
        title_plural="Frameworks",
    )
    await make_grid(sessionmaker, id=7)
    await make_grid(sessionmaker, id=9)
    await make_package(
        sessionmaker,
        id=2403,
        title="Example Package",
        slug="example-package",
        documentation_url="https://docs.example.org/",
        repo_url="https://github.com/example-org/example-repo",
        pypi_url="https://pypi.org/project/example-package/",
        repo_watchers=1120,
        grid_ids=(7, 9),
    )
    await make_package(sessionmaker, id=2404, slug="other-package", grid_ids=(7,))


EXAMPLE = package_body(
    2403,
    grid_ids=(7, 9),
    title="Example Package",
    slug="example-package",
    documentation_url="https://docs.example.org/",
    repo_url="https://github.com/example-org/example-repo",
    pypi_url="https://pypi.org/project/example-package/",
    repo_watchers=1120,
)

EXAMPLE_KEY = "https://github.com/example-org/example-repo"


async def stored(
    sessionmaker: async_sessionmaker[AsyncSession], package_id: int = 2403
) -> Package | None:
    async with sessionmaker() as session:
        return await session.get(Package, package_id)


def bumped(body: dict[str, Any]) -> str:
    """`modified` of an edited package: later than before, and recent."""
    modified = datetime.fromisoformat(body["modified"])
    assert EPOCH < modified <= datetime.now(UTC)
    assert datetime.now(UTC) - modified < timedelta(minutes=1)
    return str(body["modified"])


def field_errors(*fields: str, msg: str, kind: str, at: str = URL) -> dict[str, Any]:
    return invalid(
        at,
        f"Invalid input: {', '.join(f'body.{field}' for field in fields)}.",
        [{"loc": ["body", field], "msg": msg, "type": kind} for field in fields],
    )


# -- merge patch semantics (case 017) ---------------------------------------


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize("field", ["documentation_url", "pypi_url", "repo_url"])
@pytest.mark.parametrize("empty", [None, ""])
async def test_null_or_empty_clears_a_nullable_field(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
    field: str,
    empty: str | None,
) -> None:
    response = await client.patch(URL, headers=auth, json={field: empty})

    assert response.status_code == 200
    body = response.json()
    assert body == {**EXAMPLE, field: "", "modified": bumped(body)}
    assert (await client.get(URL)).json() == body
    row = await stored(sessionmaker)
    assert row is not None
    assert getattr(row, field) == ""
    assert row.repo_key == (None if field == "repo_url" else EXAMPLE_KEY)


@pytest.mark.usefixtures("example")
async def test_an_empty_patch_changes_nothing_not_even_modified(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.patch(URL, headers=auth, json={})

    assert response.status_code == 200
    assert response.json() == EXAMPLE
    assert (await client.get(URL)).json() == EXAMPLE


@pytest.mark.usefixtures("example")
async def test_one_key_changes_only_that_key_and_bumps_modified(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.patch(URL, headers=auth, json={"title": "Renamed Package"})

    assert response.status_code == 200
    body = response.json()
    assert body == {**EXAMPLE, "title": "Renamed Package", "modified": bumped(body)}
    assert (await client.get(URL)).json() == body


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/merge-patch+json",
        "application/json; charset=utf-8",
    ],
)
async def test_a_merge_patch_is_accepted_as_json_or_merge_patch_json(
    client: httpx.AsyncClient, auth: dict[str, str], content_type: str
) -> None:
    response = await client.patch(
        URL,
        headers={**auth, "Content-Type": content_type},
        content=b'{"title": "Renamed Package"}',
    )

    assert response.status_code == 200
    assert response.json()["title"] == "Renamed Package"


@pytest.mark.usefixtures("example")
async def test_patching_a_value_to_what_it_is_changes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.patch(
        URL,
        headers=auth,
        json={"title": "Example Package", "category": 1, "grids": [9, 7]},
    )

    assert response.status_code == 200
    assert response.json() == EXAMPLE


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize("field", ["title", "slug", "category"])
async def test_null_for_a_required_field_is_422_naming_it(
    client: httpx.AsyncClient, auth: dict[str, str], field: str
) -> None:
    response = await client.patch(URL, headers=auth, json={field: None})

    assert response.status_code == 422
    assert response.json() == field_errors(
        field, msg="Value error, may not be null", kind="value_error"
    )
    assert (await client.get(URL)).json() == EXAMPLE


@pytest.mark.usefixtures("example")
async def test_changing_read_only_fields_is_422_naming_each(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    response = await client.patch(
        URL, headers=auth, json={"repo_watchers": 999999, "commits_over_52": [1] * 52}
    )

    assert response.status_code == 422
    assert response.json() == field_errors(
        "repo_watchers",
        "commits_over_52",
        msg="read-only: it may be sent only with its current value",
        kind="read_only",
    )
    row = await stored(sessionmaker)
    assert row is not None
    assert (row.repo_watchers, row.commits_over_52) == (1120, [])


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", 2404),
        ("created", "2024-12-31T23:59:59Z"),
        ("modified", "2025-01-01T00:00:00.000001Z"),
        ("last_fetched", "2025-01-01T00:00:00Z"),
        ("last_updated", "2025-01-01T00:00:00Z"),
        ("repo_watchers", 1121),
        ("repo_watchers", None),
        ("repo_forks", 1),
        ("repo_description", "Changed."),
        ("pypi_version", "9.9.9"),
        ("commits_over_52", [0] * 52),
        ("participants", ["mallory"]),
    ],
)
async def test_each_read_only_field_refuses_a_new_value(
    client: httpx.AsyncClient, auth: dict[str, str], field: str, value: Any
) -> None:
    response = await client.patch(
        URL, headers=auth, json={"title": "Renamed Package", field: value}
    )

    assert response.status_code == 422
    assert response.json() == field_errors(
        field,
        msg="read-only: it may be sent only with its current value",
        kind="read_only",
    )
    assert (await client.get(URL)).json() == EXAMPLE


@pytest.mark.usefixtures("example")
async def test_read_only_fields_with_their_current_value_are_accepted(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.patch(
        URL,
        headers=auth,
        json={"title": "Renamed Package", "repo_watchers": 1120, "id": 2403},
    )

    assert response.status_code == 200
    body = response.json()
    assert body == {**EXAMPLE, "title": "Renamed Package", "modified": bumped(body)}


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize("time_zone", ["UTC", "America/New_York", "Asia/Kolkata"])
async def test_a_package_as_read_can_be_sent_back_unchanged(
    client_with: ClientFactory, auth: dict[str, str], time_zone: str
) -> None:
    async with client_with(time_zone=time_zone) as client:
        read = (await client.get(URL)).json()
        response = await client.patch(URL, headers=auth, json=read)
        edited = await client.patch(
            URL, headers=auth, json={**read, "title": "Renamed Package"}
        )
        # The new `modified` has microseconds; they must survive the trip too.
        edited_back = await client.patch(URL, headers=auth, json=edited.json())

    assert response.status_code == 200
    assert response.json() == read
    assert edited.status_code == 200
    assert edited.json() == {
        **read,
        "title": "Renamed Package",
        "modified": edited.json()["modified"],
    }
    assert datetime.fromisoformat(edited.json()["modified"]) > EPOCH
    assert edited_back.status_code == 200
    assert edited_back.json() == edited.json()


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize("field", ["titel", "repo_archived", "category_id", "repo_key"])
async def test_an_unknown_key_is_422_naming_it(
    client: httpx.AsyncClient, auth: dict[str, str], field: str
) -> None:
    response = await client.patch(URL, headers=auth, json={field: "typo"})

    assert response.status_code == 422
    assert response.json() == field_errors(
        field, msg="Extra inputs are not permitted", kind="extra_forbidden"
    )
    assert (await client.get(URL)).json() == EXAMPLE


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"[]", "model_attributes_type"),
        (b'["title"]', "model_attributes_type"),
        (b'"title"', "model_attributes_type"),
        (b"1", "model_attributes_type"),
        (b"null", "model_attributes_type"),
        (b"", "missing"),
    ],
)
async def test_a_body_that_is_not_an_object_is_422(
    client: httpx.AsyncClient, auth: dict[str, str], content: bytes, kind: str
) -> None:
    response = await client.patch(
        URL, headers={**auth, "Content-Type": "application/json"}, content=content
    )

    assert response.status_code == 422
    assert response.json()["detail"] == "Invalid input: body."
    assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [
        (["body"], kind)
    ]
    assert (await client.get(URL)).json() == EXAMPLE


# -- writable fields ----------------------------------------------------------


@pytest.mark.usefixtures("example")
async def test_a_new_slug_moves_the_package(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.patch(URL, headers=auth, json={"slug": "renamed-package"})
    by_new_slug = await client.get("/api/v4/packages/renamed-package/")
    by_old_slug = await client.get("/api/v4/packages/example-package/")

    body = response.json()
    assert body == {**EXAMPLE, "slug": "renamed-package", "modified": bumped(body)}
    assert by_new_slug.json() == body
    assert (by_old_slug.status_code, by_old_slug.json()) == (
        404,
        not_found("/api/v4/packages/example-package/"),
    )


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize(
    "category",
    [
        2,
        "2",
        "http://testserver/api/v4/categories/2/",
        "https://djangopackages.org/api/v4/categories/2/?format=api",
        "https://elsewhere.example/categories/2",
    ],
)
async def test_category_is_set_by_hyperlink_or_id(
    client: httpx.AsyncClient, auth: dict[str, str], category: int | str
) -> None:
    response = await client.patch(URL, headers=auth, json={"category": category})

    body = response.json()
    assert response.status_code == 200
    assert body == {
        **EXAMPLE,
        "category": "http://testserver/api/v4/categories/2/",
        "modified": bumped(body),
    }


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize(
    ("grids", "expected"),
    [
        ([9], (9,)),
        (["https://djangopackages.org/api/v4/grids/9/?format=api", 9, "9"], (9,)),
        (["http://testserver/api/v4/grids/7"], (7,)),
        ([], ()),
        (None, ()),
    ],
)
async def test_grids_are_replaced_by_hyperlinks_or_ids(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    grids: list[int | str] | None,
    expected: tuple[int, ...],
) -> None:
    response = await client.patch(URL, headers=auth, json={"grids": grids})
    grid = await client.get("/api/v4/grids/9/")

    body = response.json()
    assert body == {
        **EXAMPLE,
        "grids": [f"http://testserver/api/v4/grids/{g}/" for g in expected],
        "modified": bumped(body),
    }
    assert grid.json()["packages"] == (
        ["http://testserver/api/v4/packages/2403/"] if 9 in expected else []
    )


@pytest.mark.usefixtures("example")
async def test_several_keys_in_one_patch(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    patch = {
        "title": "  Renamed Package  ",
        "repo_url": "https://gitlab.com/example-group/sub-group/example-project",
        "pypi_url": "example-package",
        "documentation_url": "https://example-package.readthedocs.io/en/latest/",
    }

    response = await client.patch(URL, headers=auth, json=patch)

    body = response.json()
    assert body == {
        **EXAMPLE,
        **patch,
        "title": "Renamed Package",
        "modified": bumped(body),
    }


URL_ERROR = "Value error, must be a repository URL (https://host/owner/name), or empty"
HTTP_ERROR = "Value error, must be an http(s) URL, or empty"
PYPI_ERROR = "Value error, must be a PyPI project URL (https://pypi.org/project/NAME/) or name, or empty"
NUL_ERROR = "Value error, must not contain a NUL character"
KEY_TOO_LONG = "is longer than 500 characters once normalised"
ON_GITHUB = (
    "Value error, must be a repository URL on github.com "
    "(https://github.com/owner/name), or empty"
)
EXTRAS = (
    "Value error, must be a repository URL (https://host/owner/name) with no user "
    "name, password, query or fragment, or empty"
)
SLUG_PATTERN = (
    "string_pattern_mismatch",
    "String should match pattern '^[-a-zA-Z0-9_]+$'",
)


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize(
    ("field", "value", "kind", "msg"),
    [
        ("repo_url", "not a url", "value_error", URL_ERROR),
        ("repo_url", "example-org/example-repo/", "value_error", URL_ERROR),
        (
            "repo_url",
            "ftp://github.com/example-org/example-repo",
            "value_error",
            URL_ERROR,
        ),
        (
            "repo_url",
            "https://localhost/example-org/example-repo",
            "value_error",
            URL_ERROR,
        ),
        ("repo_url", 42, "string_type", "Input should be a valid string"),
        ("documentation_url", "docs.example.org", "value_error", HTTP_ERROR),
        ("documentation_url", "javascript:alert(1)", "value_error", HTTP_ERROR),
        (
            "documentation_url",
            "https://docs.example.org/a b",
            "value_error",
            HTTP_ERROR,
        ),
        ("pypi_url", "not a project!", "value_error", PYPI_ERROR),
        ("pypi_url", "mailto:someone@example.org", "value_error", PYPI_ERROR),
        ("pypi_url", "https://example.org/project/x/", "value_error", PYPI_ERROR),
        ("repo_url", "https://example.org/a b", "value_error", URL_ERROR),
        ("repo_url", "https://example.org:abc/a/b", "value_error", URL_ERROR),
        ("repo_url", "https://github.com/foo", "value_error", ON_GITHUB),
        ("repo_url", "https://github.com/", "value_error", ON_GITHUB),
        ("repo_url", "https://evil.com#@github.com/foo/bar", "value_error", EXTRAS),
        ("repo_url", "https://github.com/foo/bar?tab=readme", "value_error", EXTRAS),
        ("repo_url", "https://me:secret@github.com/foo/bar", "value_error", EXTRAS),
        ("documentation_url", "https://x.org:99999/a", "value_error", HTTP_ERROR),
        ("title", "a\x00b", "value_error", NUL_ERROR),
        ("documentation_url", "https://x.org/\x00", "value_error", NUL_ERROR),
        ("repo_url", "https://example.org/" + "İ" * 300, "value_error", KEY_TOO_LONG),
        ("slug", "bad slug", *SLUG_PATTERN),
        ("slug", "héllo", *SLUG_PATTERN),
        ("slug", "", "string_too_short", "String should have at least 1 character"),
        (
            "slug",
            "2403",
            "value_error",
            "Value error, a slug may not be all digits: that would read as an id",
        ),
        (
            "slug",
            "s" * 101,
            "string_too_long",
            "String should have at most 100 characters",
        ),
        ("title", "   ", "string_too_short", "String should have at least 1 character"),
        (
            "title",
            "t" * 101,
            "string_too_long",
            "String should have at most 100 characters",
        ),
    ],
)
async def test_an_invalid_value_is_422_naming_the_field(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    field: str,
    value: Any,
    kind: str,
    msg: str,
) -> None:
    response = await client.patch(URL, headers=auth, json={field: value})

    assert response.status_code == 422
    assert response.json() == field_errors(field, msg=msg, kind=kind)
    assert (await client.get(URL)).json() == EXAMPLE


CATEGORY_REFERENCE = (
    "must be an id, or a hyperlink to one of the categories (…/categories/ID/)"
)
GRID_REFERENCE = "must be an id, or a hyperlink to one of the grids (…/grids/ID/)"


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize(
    ("patch", "error"),
    [
        (
            {"category": 99},
            {
                "loc": ["body", "category"],
                "msg": "no category has id 99",
                "type": "reference",
            },
        ),
        (
            {"category": "https://djangopackages.org/api/v4/categories/"},
            {
                "loc": ["body", "category"],
                "msg": CATEGORY_REFERENCE,
                "type": "reference",
            },
        ),
        (
            {"category": 0},
            {
                "loc": ["body", "category"],
                "msg": CATEGORY_REFERENCE,
                "type": "reference",
            },
        ),
        (
            {"category": 2**31},
            {
                "loc": ["body", "category"],
                "msg": CATEGORY_REFERENCE,
                "type": "reference",
            },
        ),
        (
            {"category": "https://evil.example/api/v4/grids/1/"},
            {
                "loc": ["body", "category"],
                "msg": CATEGORY_REFERENCE,
                "type": "reference",
            },
        ),
        (
            {"category": "http://testserver/api/v4/categories/\u0661/"},
            {
                "loc": ["body", "category"],
                "msg": CATEGORY_REFERENCE,
                "type": "reference",
            },
        ),
        (
            {"category": "http://testserver/api/v4/categories/1/#top"},
            {
                "loc": ["body", "category"],
                "msg": CATEGORY_REFERENCE,
                "type": "reference",
            },
        ),
        (
            {"grids": [7, "no-id-here"]},
            {"loc": ["body", "grids", 1], "msg": GRID_REFERENCE, "type": "reference"},
        ),
        (
            {"grids": [99, 7, "http://testserver/api/v4/grids/98/"]},
            {
                "loc": ["body", "grids"],
                "msg": "no grid has id 98, 99",
                "type": "reference",
            },
        ),
    ],
)
async def test_a_reference_to_nothing_is_422(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    patch: dict[str, Any],
    error: dict[str, Any],
) -> None:
    response = await client.patch(URL, headers=auth, json=patch)

    assert response.status_code == 422
    assert response.json() == invalid(
        URL, f"Invalid input: {'.'.join(map(str, error['loc']))}.", [error]
    )
    assert (await client.get(URL)).json() == EXAMPLE


@pytest.mark.usefixtures("example")
async def test_a_slug_used_by_another_package_is_409(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.patch(URL, headers=auth, json={"slug": "other-package"})

    assert response.status_code == 409
    assert response.json() == problem(
        409, "slug 'other-package' is already used by package 2404", URL
    )
    assert (await client.get(URL)).json() == EXAMPLE


# -- repository URLs on write (case 016) ---------------------------------------


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            "https://github.com/Example-Org/Example-Repo/",
            "git@github.com:example-org/example-repo.git",
        ),
        (
            "git@github.com:example-org/example-repo.git",
            "https://github.com/Example-Org/Example-Repo/",
        ),
        (
            "https://github.com/example-org/example-repo",
            "http://www.github.com/EXAMPLE-ORG/example-repo/tree/main/docs",
        ),
        ("https://github.com/Foo/Bar", "https://github.com/foo/ba%72"),
        ("https://github.com/Foo/Bar", "https://github.com./foo/bar"),
        ("https://github.com/Foo/Bar", "https://\uff47ithub.com/foo/bar"),
        ("https://github.com/Foo/Bar", "https://github.com/foo/bar.GIT"),
    ],
)
async def test_a_repository_used_by_another_package_is_409(
    client: httpx.AsyncClient, auth: dict[str, str], first: str, second: str
) -> None:
    claimed = await client.patch(URL, headers=auth, json={"repo_url": first})
    response = await client.patch(
        "/api/v4/packages/2404/", headers=auth, json={"repo_url": second}
    )
    other = await client.get("/api/v4/packages/2404/")

    assert claimed.status_code == 200
    assert claimed.json()["repo_url"] == first
    assert response.status_code == 409
    assert response.json() == problem(
        409, f"repository {second!r} is already used by package 2403", OTHER_URL
    )
    assert other.json()["repo_url"] == ""


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize(
    "repo_url",
    [
        "https://github.com/Example-Org/Example-Repo/",
        "git@github.com:example-org/example-repo.git",
    ],
)
async def test_a_package_may_respell_its_own_repository(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
    repo_url: str,
) -> None:
    response = await client.patch(URL, headers=auth, json={"repo_url": repo_url})

    body = response.json()
    assert body == {**EXAMPLE, "repo_url": repo_url, "modified": bumped(body)}
    row = await stored(sessionmaker)
    assert row is not None
    assert row.repo_key == EXAMPLE_KEY


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize(
    "repo_url",
    [
        "http://example-org.github.com/example-repo",
        "https://example-org.github.io/example-repo/",
        "http://code.google.com/p/example-project",
    ],
)
async def test_a_repository_on_an_unsupported_host_is_stored_as_given(
    client: httpx.AsyncClient, auth: dict[str, str], repo_url: str
) -> None:
    response = await client.patch(URL, headers=auth, json={"repo_url": repo_url})

    body = response.json()
    assert body == {**EXAMPLE, "repo_url": repo_url, "modified": bumped(body)}


# -- the answer after a commit, and concurrent writers (case 020) -------------


@pytest.mark.usefixtures("example")
async def test_the_answer_is_built_from_what_was_committed(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    proxied = {"X-Forwarded-Proto": "https", "Host": "packages.example.org"}
    public = "https://packages.example.org/api/v4"

    response = await client.patch(
        URL, headers={**auth, **proxied}, json={"title": "Renamed Package"}
    )
    grid = await client.get("/api/v4/grids/7/", headers=proxied)

    body = response.json()
    assert response.status_code == 200
    assert body == {
        **EXAMPLE,
        "category": f"{public}/categories/1/",
        "grids": [f"{public}/grids/7/", f"{public}/grids/9/"],
        "title": "Renamed Package",
        "modified": bumped(body),
    }
    assert grid.json()["packages"] == [
        f"{public}/packages/2403/",
        f"{public}/packages/2404/",
    ]


_SET_CLAUSE = re.compile(r"^UPDATE packages SET (?P<set>.+?) WHERE", re.DOTALL)


@pytest.mark.usefixtures("example")
async def test_a_patch_writes_only_the_columns_it_changes(
    client: httpx.AsyncClient, auth: dict[str, str], statements: Statements
) -> None:
    with statements.recording() as seen:
        response = await client.patch(URL, headers=auth, json={"title": "Renamed"})

    updates = [m["set"] for s in seen if (m := _SET_CLAUSE.match(s.strip()))]
    assert response.status_code == 200
    assert len(updates) == 1
    columns = [part.split("=")[0].strip() for part in updates[0].split(",")]
    assert columns == ["title", "modified"]


async def _fetcher_sets_watchers(engine: AsyncEngine, watchers: int) -> None:
    """What the background refresh does: its own session, its own commit."""
    sessionmaker = async_sessionmaker(engine)
    async with sessionmaker() as session:
        await session.execute(
            update(Package).where(Package.id == 2403).values(repo_watchers=watchers)
        )
        await session.commit()


@pytest.mark.usefixtures("example")
async def test_stats_committed_after_the_patch_read_the_package_survive(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The PATCH works from a copy read before the refresh committed 2500.
    stale = await stored(sessionmaker)
    assert stale is not None and stale.repo_watchers == 1120
    await _fetcher_sets_watchers(engine, 2500)

    async def find_stale(_session: AsyncSession, _segment: str, **_: Any) -> Package:
        return stale

    monkeypatch.setattr(repository, "find_package", find_stale)

    response = await client.patch(URL, headers=auth, json={"title": "Renamed"})

    assert response.status_code == 200
    assert response.json()["repo_watchers"] == 2500
    row = await stored(sessionmaker)
    assert row is not None
    assert (row.title, row.repo_watchers) == ("Renamed", 2500)


@pytest.mark.usefixtures("example")
async def test_stats_written_while_a_patch_is_in_flight_survive(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The PATCH holds the package's row from its read to its commit; a
    # refresh writing meanwhile waits for it, then lands on top of it.
    find_package = repository.find_package
    refresh: list[asyncio.Task[None]] = []

    async def find_then_refresh(
        session: AsyncSession, segment: str, **options: Any
    ) -> Package | None:
        package = await find_package(session, segment, **options)
        refresh.append(asyncio.create_task(_fetcher_sets_watchers(engine, 2500)))
        await asyncio.sleep(0.05)  # the refresh is now waiting for the row
        return package

    monkeypatch.setattr(repository, "find_package", find_then_refresh)

    response = await client.patch(URL, headers=auth, json={"title": "Renamed"})
    await asyncio.wait_for(refresh[0], timeout=10)

    assert response.status_code == 200
    assert (response.json()["title"], response.json()["repo_watchers"]) == (
        "Renamed",
        1120,
    )
    row = await stored(sessionmaker)
    assert row is not None
    assert (row.title, row.repo_watchers) == ("Renamed", 2500)


# -- tokens -------------------------------------------------------------------


WRITES = [
    ("PATCH", URL, {"title": "x"}),
    ("PATCH", "/api/v4/packages/2403", {"title": None}),
    ("PATCH", "/api/v4/packages/999999/", {"title": "x"}),
    ("POST", "/api/v4/packages/", {"title": "x", "slug": "x", "category": 1}),
    ("POST", "/api/v4/packages", {}),
    ("DELETE", URL, None),
]


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize(
    ("authorization", "detail", "challenge"),
    [
        (None, NO_CREDENTIALS, CHALLENGE),
        ("Basic dXNlcjpwYXNz", NO_CREDENTIALS, CHALLENGE),
        ("Bearer", NO_CREDENTIALS, CHALLENGE),
        (
            "Bearer pkapi_not-a-real-token",
            INVALID_TOKEN,
            f'{CHALLENGE}, error="invalid_token"',
        ),
    ],
)
async def test_a_write_without_a_valid_token_is_401(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    authorization: str | None,
    detail: str,
    challenge: str,
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    # Refused before anything else is looked at: the body, the package.
    answers = [
        await client.request(method, path, headers=headers, json=body)
        for method, path, body in WRITES
    ]

    assert [
        (r.status_code, r.json(), r.headers["www-authenticate"]) for r in answers
    ] == [
        (401, problem(401, detail, quote(path.rstrip("/") + "/")), challenge)
        for _, path, _ in WRITES
    ]
    assert (await client.get(URL)).json() == EXAMPLE
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Package)) == 2


@pytest.mark.usefixtures("example")
async def test_a_token_is_checked_against_its_digest(
    client: httpx.AsyncClient, token: str
) -> None:
    response = await client.patch(
        URL, headers={"Authorization": f"Bearer {token[:-1]}"}, json={"title": "x"}
    )

    assert response.status_code == 401
    assert response.json() == problem(401, INVALID_TOKEN, URL)


@pytest.mark.usefixtures("example")
async def test_patching_a_missing_package_is_404(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.patch(
        "/api/v4/packages/999999/", headers=auth, json={"title": "x"}
    )

    assert response.status_code == 404
    assert response.json() == not_found("/api/v4/packages/999999/")


# -- creation and removal ----------------------------------------------------


@pytest.fixture
async def imported(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Case 017's package, loaded the way a catalogue is, so new ids follow it."""
    document = CatalogDocument.model_validate(
        {
            "categories": [
                {
                    "id": 1,
                    "title": "App",
                    "slug": "apps",
                    "title_plural": "Apps",
                    "created": "2025-01-01T00:00:00Z",
                    "modified": "2025-01-01T00:00:00Z",
                },
                {
                    "id": 2,
                    "title": "Framework",
                    "slug": "frameworks",
                    "title_plural": "Frameworks",
                    "created": "2025-01-01T00:00:00Z",
                    "modified": "2025-01-01T00:00:00Z",
                },
            ],
            "grids": [
                {
                    "id": 7,
                    "title": "Grid 7",
                    "slug": "grid-7",
                    "created": "2025-01-01T00:00:00Z",
                    "modified": "2025-01-01T00:00:00Z",
                },
                {
                    "id": 9,
                    "title": "Grid 9",
                    "slug": "grid-9",
                    "created": "2025-01-01T00:00:00Z",
                    "modified": "2025-01-01T00:00:00Z",
                },
            ],
            "packages": [
                {**EXAMPLE, "category": 1, "grids": [7, 9]},
                {**package_body(2404, slug="other-package"), "grids": [7]},
            ],
        }
    )
    async with sessionmaker() as session:
        await import_catalog(session, document)
        await session.commit()


NEW = {
    "title": "New Package",
    "slug": "new-package",
    "category": "https://djangopackages.org/api/v4/categories/2/?format=api",
    "grids": [9, "http://testserver/api/v4/grids/7/"],
    "repo_url": "https://github.com/new-org/new-repo",
    "pypi_url": "https://pypi.org/project/new-package/",
    "documentation_url": "https://new-package.readthedocs.io/",
}


def created_at(body: dict[str, Any]) -> tuple[str, str]:
    """`created` and `modified` of a new package: both just now."""
    for key in ("created", "modified"):
        moment = datetime.fromisoformat(body[key])
        assert timedelta(0) <= datetime.now(UTC) - moment < timedelta(minutes=1)
    return body["created"], body["modified"]


@pytest.mark.usefixtures("imported")
async def test_post_creates_a_package_with_the_next_id(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post("/api/v4/packages/", headers=auth, json=NEW)

    assert response.status_code == 201
    assert response.headers["location"] == "http://testserver/api/v4/packages/2405/"
    body = response.json()
    created, modified = created_at(body)
    assert body == package_body(
        2405,
        category_id=2,
        grid_ids=(7, 9),
        title="New Package",
        slug="new-package",
        repo_url="https://github.com/new-org/new-repo",
        pypi_url="https://pypi.org/project/new-package/",
        documentation_url="https://new-package.readthedocs.io/",
        created=created,
        modified=modified,
    )
    assert (await client.get(response.headers["location"])).json() == body
    grid = await client.get("/api/v4/grids/9/")
    assert grid.json()["packages"] == [
        "http://testserver/api/v4/packages/2403/",
        "http://testserver/api/v4/packages/2405/",
    ]


@pytest.mark.usefixtures("imported")
async def test_post_without_a_slash_and_with_only_the_required_keys(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v4/packages?format=json",
        headers=auth,
        json={"title": "Bare", "slug": "bare", "category": 1, "repo_url": None},
    )

    assert response.status_code == 201
    assert response.headers["location"] == (
        "http://testserver/api/v4/packages/2405/?format=json"
    )
    body = response.json()
    created, modified = created_at(body)
    assert body == package_body(
        2405,
        title="Bare",
        slug="bare",
        category="http://testserver/api/v4/categories/1/?format=json",
        created=created,
        modified=modified,
    )


@pytest.mark.usefixtures("imported")
async def test_post_without_the_required_keys_is_422_naming_each(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post("/api/v4/packages/", headers=auth, json={})

    assert response.status_code == 422
    assert response.json() == field_errors(
        "title", "slug", "category", msg="Field required", kind="missing", at=NEW_URL
    )


@pytest.mark.usefixtures("imported")
@pytest.mark.parametrize(
    ("changes", "error"),
    [
        (
            {"repo_watchers": 5},
            ("repo_watchers", "Extra inputs are not permitted", "extra_forbidden"),
        ),
        ({"title": None}, ("title", "Value error, may not be null", "value_error")),
        ({"slug": "new package"}, ("slug", SLUG_PATTERN[1], SLUG_PATTERN[0])),
        ({"repo_url": "new-org/new-repo"}, ("repo_url", URL_ERROR, "value_error")),
        ({"category": 3}, ("category", "no category has id 3", "reference")),
    ],
)
async def test_post_with_an_invalid_key_is_422_naming_it(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    changes: dict[str, Any],
    error: tuple[str, str, str],
) -> None:
    response = await client.post(
        "/api/v4/packages/", headers=auth, json={**NEW, **changes}
    )

    assert response.status_code == 422
    assert response.json() == field_errors(
        error[0], msg=error[1], kind=error[2], at=NEW_URL
    )
    assert (await client.get("/api/v4/packages/")).json()["count"] == 2


@pytest.mark.usefixtures("imported")
@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        (
            {"slug": "other-package"},
            "slug 'other-package' is already used by package 2404",
        ),
        (
            {"repo_url": "git@github.com:Example-Org/Example-Repo.git"},
            "repository 'git@github.com:Example-Org/Example-Repo.git' is already used by package 2403",
        ),
    ],
)
async def test_post_with_a_taken_slug_or_repository_is_409(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    changes: dict[str, str],
    detail: str,
) -> None:
    response = await client.post(
        "/api/v4/packages/", headers=auth, json={**NEW, **changes}
    )

    assert response.status_code == 409
    assert response.json() == problem(409, detail, NEW_URL)
    assert (await client.get("/api/v4/packages/")).json()["count"] == 2


@pytest.mark.usefixtures("example")
@pytest.mark.parametrize("path", [URL, "/api/v4/packages/example-package"])
async def test_delete_removes_the_package_and_its_grid_places(
    client: httpx.AsyncClient, admin_auth: dict[str, str], path: str
) -> None:
    response = await client.delete(path, headers=admin_auth)
    gone = await client.get(URL)
    grid = await client.get("/api/v4/grids/7/")
    again = await client.delete(path, headers=admin_auth)

    assert response.status_code == 204
    assert response.content == b""
    assert (gone.status_code, gone.json()) == (404, not_found(URL))
    assert grid.json()["packages"] == ["http://testserver/api/v4/packages/2404/"]
    assert (again.status_code, again.json()) == (404, not_found(path.rstrip("/") + "/"))
    assert (await client.get("/api/v4/packages/")).json()["count"] == 1


@pytest.mark.usefixtures("example")
async def test_delete_of_a_missing_package_is_404(
    client: httpx.AsyncClient, admin_auth: dict[str, str]
) -> None:
    response = await client.delete("/api/v4/packages/2147483648/", headers=admin_auth)

    assert response.status_code == 404
    assert response.json() == not_found("/api/v4/packages/2147483648/")


async def test_a_self_hosted_repository_is_one_however_it_is_written(
    client_with: ClientFactory, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    await make_package(sessionmaker, id=1, slug="one")
    await make_package(sessionmaker, id=2, slug="two")
    async with sessionmaker() as session:
        token = await create_token(session, "editor")
        await session.commit()
    headers = {"Authorization": f"Bearer {token}"}

    async with client_with(gitlab_hosts="git.example.org") as client:
        first = await client.patch(
            "/api/v4/packages/1/",
            headers=headers,
            json={"repo_url": "https://git.example.org/group/sub/tool/-/tree/main"},
        )
        second = await client.patch(
            "/api/v4/packages/2/",
            headers=headers,
            json={"repo_url": "git@git.example.org:Group/Sub/Tool.git"},
        )

    assert first.status_code == 200
    assert (second.status_code, second.json()) == (
        409,
        problem(
            409,
            "repository 'git@git.example.org:Group/Sub/Tool.git' is "
            "already used by package 1",
            "/api/v4/packages/2/",
        ),
    )


async def test_a_self_hosted_forge_takes_only_repository_urls(
    client_with: ClientFactory, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_category(sessionmaker)
    await make_package(sessionmaker, id=1, slug="one")
    async with sessionmaker() as session:
        token = await create_token(session, "editor")
        await session.commit()
    headers = {"Authorization": f"Bearer {token}"}

    async with client_with(gitlab_hosts="git.example.org") as client:
        response = await client.patch(
            "/api/v4/packages/1/",
            headers=headers,
            json={"repo_url": "https://git.example.org/group"},
        )
        created = await client.post(
            "/api/v4/packages/",
            headers=headers,
            json={
                "title": "Two",
                "slug": "two",
                "category": 1,
                "repo_url": "https://git.example.org/group/",
            },
        )
    kept = await stored(sessionmaker, 1)

    message = (
        "Value error, must be a repository URL on git.example.org "
        "(https://git.example.org/group/name), or empty"
    )
    assert (response.status_code, response.json()) == (
        422,
        field_errors(
            "repo_url", msg=message, kind="value_error", at="/api/v4/packages/1/"
        ),
    )
    assert (created.status_code, created.json()) == (
        422,
        field_errors("repo_url", msg=message, kind="value_error", at=NEW_URL),
    )
    assert kept is not None and (kept.title, kept.repo_url) == ("Package 1", "")
