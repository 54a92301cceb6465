"""API tokens: made once, shown once, kept only as a SHA-256 digest.

A token is 32 random bytes, so a plain digest is enough to make a stolen
table useless; lookups go by digest and the final check is constant-time.
"""

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import SessionDep
from app.db.base import utcnow
from app.db.engine import writing
from app.errors import Conflict, Unauthorized
from app.models import ApiToken

TOKEN_PREFIX = "pkapi_"
DEFAULT_SCOPES = ["write"]

_CHALLENGE = 'Bearer realm="packages-api"'


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    if not name.strip() or len(name) > 100 or not name.isprintable():
        raise ValueError("a token name is 1 to 100 printable characters")
    return name


async def create_token(
    session: AsyncSession, name: str, scopes: list[str] | None = None
) -> str:
    """Store a new token under `name` and return its secret (never stored)."""
    check_name(name)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            name=name, token_hash=hash_token(secret), scopes=scopes or DEFAULT_SCOPES
        )
    )
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a token named {name!r} already exists") from exc
    return secret


async def find_token(session: AsyncSession, secret: str) -> ApiToken | None:
    digest = hash_token(secret)
    token = await session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    return token


_bearer = HTTPBearer(
    auto_error=False,
    description="A token made with `packages-api token create NAME`.",
)
_NO_BEARER = (
    "Authentication credentials were not provided: send "
    "'Authorization: Bearer <token>'."
)


async def _require_token(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiToken:
    if credentials is None:
        raise Unauthorized(_NO_BEARER, headers={"WWW-Authenticate": _CHALLENGE})
    # Every route that asks for a token writes; on SQLite take the write
    # lock now rather than fail to upgrade a read transaction later.
    await writing(session)
    token = await find_token(session, credentials.credentials)
    if token is None:
        raise Unauthorized(
            "Invalid token.",
            headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
        )
    await session.execute(
        update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=utcnow())
    )
    return token


TokenDep = Annotated[ApiToken, Depends(_require_token)]
