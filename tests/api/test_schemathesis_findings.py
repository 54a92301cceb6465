"""What the Schemathesis run found, each pinned by an exact test."""

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import make_category, make_package


async def test_every_get_documents_its_browsable_page(
    client: httpx.AsyncClient,
) -> None:
    # ?format=api turns any JSON answer of a GET, a problem too, into HTML.
    document = (await client.get("/openapi.json")).json()
    answers = document["paths"]["/api/v4/packages/{package}/"]["get"]["responses"]
    root = document["paths"]["/api/v4/"]["get"]["responses"]

    assert sorted(answers["200"]["content"]) == ["application/json", "text/html"]
    assert sorted(answers["404"]["content"]) == [
        "application/problem+json",
        "text/html",
    ]
    assert sorted(answers["422"]["content"]) == [
        "application/problem+json",
        "text/html",
    ]
    assert "content" not in answers["304"]
    assert sorted(root["200"]["content"]) == ["application/json", "text/html"]
    patch = document["paths"]["/api/v4/packages/{package}/"]["patch"]["responses"]
    assert sorted(patch["200"]["content"]) == ["application/json"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v4/?format=api", 200),
        ("/api/v4/packages/example-package/?format=api", 200),
        ("/api/v4/packages/nope/?format=api", 404),
        ("/api/v4/packages/?format=api&limit=-1", 422),
    ],
)
async def test_the_browsable_answers_are_html(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    path: str,
    status: int,
) -> None:
    await make_category(sessionmaker)
    await make_package(sessionmaker, id=2403, slug="example-package")

    response = await client.get(path)

    assert response.status_code == status
    assert response.headers["content-type"] == "text/html; charset=utf-8"


async def test_every_operation_with_a_query_parameter_or_a_body_documents_its_422(
    client: httpx.AsyncClient,
) -> None:
    # The feature and cell GETs answered 422 for an unknown `format` that
    # their operations did not list.
    document = (await client.get("/openapi.json")).json()
    missing = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if (
            "requestBody" in operation
            or any(p["in"] == "query" for p in operation.get("parameters", []))
        )
        and "422" not in operation["responses"]
    ]
    feature = "/api/v4/grids/{grid}/features/{feature}/"
    invalid = document["paths"][feature]["get"]["responses"]["422"]["content"]

    assert missing == []
    assert invalid["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationProblem"
    }
