"""The API root: where each resource lives."""

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from app.api.caching import digest_validators, not_modified
from app.api.deps import LinksDep, SettingsDep
from app.api.links import Hyperlink
from app.api.openapi import NOT_MODIFIED, problems

router = APIRouter(tags=["root"])


class ServiceRoot(BaseModel):
    api: Hyperlink
    docs: Hyperlink


service_router = APIRouter(tags=["root"])


@service_router.get(
    "/",
    response_model=ServiceRoot,
    summary="Find the API",
    response_description="The URLs of the API and its docs.",
)
async def get_service_root(request: Request) -> ServiceRoot:
    """Where the API and its documentation are."""
    base = str(request.base_url).rstrip("/")
    return ServiceRoot(api=f"{base}/api/v4/", docs=f"{base}/docs")


class ApiRoot(BaseModel):
    categories: Hyperlink
    grids: Hyperlink
    packages: Hyperlink


# The root names the same resources on every replica until a release adds
# one; this is when its list last changed.
ROOT_CHANGED = datetime(2026, 1, 1, tzinfo=UTC)


@router.get(
    "/",
    response_model=ApiRoot,
    summary="List the resources",
    response_description="The URL of each resource.",
    responses={**NOT_MODIFIED, **problems(422)},
)
async def get_api_root(
    request: Request, response: Response, settings: SettingsDep, links: LinksDep
) -> ApiRoot | Response:
    """List the URLs of the API's resources."""
    validators = digest_validators(("root",), ROOT_CHANGED, links, settings)
    if (unchanged := not_modified(request, response, validators, settings)) is not None:
        return unchanged
    return ApiRoot(
        categories=links.collection("categories"),
        grids=links.collection("grids"),
        packages=links.collection("packages"),
    )
