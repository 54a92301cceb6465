"""The API root: where each resource lives."""

from fastapi import APIRouter, Request
from pydantic import BaseModel

from app.api.deps import LinksDep

router = APIRouter(tags=["root"])


class ServiceRoot(BaseModel):
    api: str
    docs: str


service_router = APIRouter(tags=["root"])


@service_router.get("/", response_model=ServiceRoot)
async def get_service_root(request: Request) -> ServiceRoot:
    """Where the API and its documentation are."""
    base = str(request.base_url).rstrip("/")
    return ServiceRoot(api=f"{base}/api/v4/", docs=f"{base}/docs")


class ApiRoot(BaseModel):
    categories: str
    grids: str
    packages: str


@router.get("/", response_model=ApiRoot)
async def get_api_root(links: LinksDep) -> ApiRoot:
    """List the URLs of the API's resources."""
    return ApiRoot(
        categories=links.collection("categories"),
        grids=links.collection("grids"),
        packages=links.collection("packages"),
    )
