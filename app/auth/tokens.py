"""API tokens: made once, shown once, kept only as a SHA-256 digest.

A token is 32 random bytes, so a plain digest is enough to make a stolen
table useless; lookups go by digest and the final check is constant-time.

Each token has scopes: `write` for edits, additions and fetch requests,
`admin` for removals and everything `write` allows, and `read` for only
what any valid token may read (the edit log). A route asks for the scope it
needs (`WriteToken`, `AdminToken`) or for any valid token (`ReadToken`); a
token without it answers 403 naming the scope.
"""

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import SessionDep
from app.db.base import utcnow
from app.db.engine import writing
from app.errors import Conflict, Forbidden, Unauthorized
from app.models import ApiToken

TOKEN_PREFIX = "pkapi_"
READ = "read"
WRITE = "write"
ADMIN = "admin"
SCOPES = (READ, WRITE, ADMIN)
"""Every scope, least first; each includes what the ones before allow."""
DEFAULT_SCOPES = [WRITE]
# Last use is written at most this often per token, so that requests do not
# each cost an UPDATE (and, on PostgreSQL, a lock on the token's row).
LAST_USE_RESOLUTION = timedelta(minutes=1)

_CHALLENGE = 'Bearer realm="packages-api"'


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    if not name.strip() or len(name) > 100 or not name.isprintable():
        raise ValueError("a token name is 1 to 100 printable characters")
    return name


def check_scopes(scopes: Iterable[str]) -> list[str]:
    """Known scopes in canonical order, without repeats; ValueError otherwise."""
    wanted = set(scopes)
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise ValueError(
            f"unknown scope {', '.join(map(repr, unknown))}: "
            f"a scope is one of {', '.join(SCOPES)}"
        )
    if not wanted:
        raise ValueError(f"give at least one scope: {', '.join(SCOPES)}")
    return [scope for scope in SCOPES if scope in wanted]


def grants(scopes: Iterable[str], needed: str) -> bool:
    """Whether a token with `scopes` may do what needs `needed`."""
    rank = SCOPES.index(needed)
    return any(scope in SCOPES[rank:] for scope in scopes)


async def create_token(
    session: AsyncSession, name: str, scopes: list[str] | None = None
) -> str:
    """Store a new token under `name` and return its secret (never stored)."""
    check_name(name)
    chosen = check_scopes(scopes or DEFAULT_SCOPES)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=hash_token(secret), scopes=chosen))
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


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    return list(await session.scalars(select(ApiToken).order_by(ApiToken.id)))


async def revoke_token(session: AsyncSession, name: str) -> bool:
    """Remove the token named `name`; False when there is none.

    Its row goes, so the next request that sends it finds nothing (401).
    Edits it made keep its id and name in the edit log.
    """
    result = await session.execute(delete(ApiToken).where(ApiToken.name == name))
    return bool(getattr(result, "rowcount", 0))


def _use_is_due(token: ApiToken, now: datetime) -> bool:
    last = token.last_used_at
    return last is None or now - last >= LAST_USE_RESOLUTION


async def _record_use(session: AsyncSession, token: ApiToken, now: datetime) -> None:
    # The condition again in SQL: of requests that all read an old last
    # use, only the first writes it.
    await session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token.id,
            or_(
                ApiToken.last_used_at.is_(None),
                ApiToken.last_used_at <= now - LAST_USE_RESOLUTION,
            ),
        )
        .values(last_used_at=now)
    )
    token.last_used_at = now


_bearer = HTTPBearer(
    auto_error=False,
    description=(
        "A token made with `packages-api token create NAME [--scope SCOPE]`. "
        "Scopes: `write` edits, adds and asks for refreshes; `admin` also "
        "removes (every DELETE); `read` only reads what needs a token (the "
        "edit log). An operation's 403 names the scope it needs."
    ),
)
_NO_BEARER = (
    "Authentication credentials were not provided: send "
    "'Authorization: Bearer <token>'."
)


def _forbidden(needed: str) -> Forbidden:
    return Forbidden(
        f"This operation needs a token with the '{needed}' scope; "
        "this token does not have it."
    )


def _require(needed: str | None, *, writes: bool) -> Callable[..., Awaitable[ApiToken]]:
    """A dependency: the request's valid token, holding `needed` (any if None).

    `writes` says the route writes: on SQLite its transaction then takes the
    write lock before the first read (see `writing`).
    """

    async def require_token(
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiToken:
        if credentials is None:
            raise Unauthorized(_NO_BEARER, headers={"WWW-Authenticate": _CHALLENGE})
        if writes:
            await writing(session)
        token = await find_token(session, credentials.credentials)
        if token is None:
            raise Unauthorized(
                "Invalid token.",
                headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
            )
        # A snapshot, detached: the transactions below neither expire nor
        # flush it, and the route reads its id and name as they were.
        session.expunge(token)
        now = utcnow()
        if _use_is_due(token, now):
            # In a short transaction of its own: it is kept whatever the
            # request comes to, and holds no lock while the request runs.
            if not writes:
                await session.rollback()
                await writing(session)
            await _record_use(session, token, now)
            await session.commit()
            if writes:
                await writing(session)
        if needed is not None and not grants(token.scopes, needed):
            raise _forbidden(needed)
        return token

    return require_token


ReadToken = Annotated[ApiToken, Depends(_require(None, writes=False))]
"""Any valid token, for reads that need one."""
WriteToken = Annotated[ApiToken, Depends(_require(WRITE, writes=True))]
"""A token with the `write` (or `admin`) scope: edits, additions, fetches."""
AdminToken = Annotated[ApiToken, Depends(_require(ADMIN, writes=True))]
"""A token with the `admin` scope: removals."""
