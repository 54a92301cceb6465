"""The API root: where each resource lives."""

from fastapi import APIRouter
from pydantic import BaseModel

from app.api.deps import LinksDep

router = APIRouter(tags=["root"])


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
