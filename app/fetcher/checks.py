"""The limits every fetched value is checked against before it is stored.

They are the import's (`app.catalog.schemas`): counts fit the integer
columns and are not negative, a version fits its column, text holds no NUL
character, timestamps lie from 1900 to 8999. A value the import would
refuse is not stored by a fetch either, so whatever a fetch stores reads
through the API and survives an export and an import. Two checks go with
them: text must be encodable as UTF-8 (JSON may carry a lone surrogate,
"\\ud800", which no database stores and the import's JSON parser refuses),
and a documentation link must be one the API takes back (`HttpUrlText`).

The forges and PyPI read their answers through models of these types, in
strict mode: a count is a JSON integer, not "5" or true. An answer with a
value outside them is malformed, like an answer of the wrong shape: `parse`
and `check` raise "unexpected response: FIELD: why", which fails that
answer as any failed answer does: the source's FetchState and the
package's last_exception say so, and what is stored stays.

Entries of a list the fetcher already sifts (contributors without a login,
project links that are not web links, files without an upload time) are
sifted by these limits as well (`sift`), not refused whole: one login with
a NUL says nothing about the other contributors, and leaving out an entry
it cannot use is what the fetcher does anyway.

A repository path an answer names (a rename, a transfer) goes into the URLs
of the calls that follow, which carry the forge's token: `moved_ref` takes
only a well-formed one (`is_repo_path`: no "..", no "?", ...), else the
answer is malformed too.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from app.catalog.schemas import Count, Short, Timestamp, Url
from app.fetcher.errors import PermanentError
from app.fetcher.forge import NO_ACTIVITY
from app.fetcher.http import Reply, forget_etag
from app.packages.repo_url import RepoRef, is_repo_path
from app.packages.schemas import HttpUrlText, has_nul

__all__ = [
    "Answer",
    "Count",
    "Text",
    "Time",
    "Version",
    "WebUrl",
    "Weeks",
    "check",
    "moved_ref",
    "parse",
    "sift",
    "unexpected",
]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def _storable(value: Any) -> Any:
    """Text no column refuses; checked before pydantic's own string checks,
    which would stumble over a lone surrogate with a message of their own."""
    if not isinstance(value, str):
        return value  # for the type check that follows to refuse
    if has_nul(value):
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be Unicode text, not a lone surrogate") from None
    return value


def _iso_time(value: Any) -> datetime:
    """An ISO 8601 string as a datetime. pydantic's own parsing would also
    take a number as Unix time, which no upstream documents."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("must be an ISO 8601 date and time")


def _not_empty(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


Text = Annotated[str, BeforeValidator(_storable)]
Version = Annotated[Short, BeforeValidator(_storable), AfterValidator(_not_empty)]
WebUrl = Annotated[HttpUrlText, BeforeValidator(_storable), AfterValidator(_not_empty)]
# Timestamp's own check (in UTC, from 1900 to 8999), for a time never None.
_IN_RANGE = get_args(Timestamp)[1]
Time = Annotated[datetime, BeforeValidator(_iso_time), _IN_RANGE]
Weeks = Annotated[
    list[Count], Field(min_length=len(NO_ACTIVITY), max_length=len(NO_ACTIVITY))
]

_URL: TypeAdapter[str] = TypeAdapter(Url)


class Answer(BaseModel):
    """The fields of an upstream answer that are read; the others are ignored."""

    model_config = ConfigDict(strict=True, frozen=True, extra="ignore")


class _Committer(Answer):
    date: Time


class _CommitDetail(Answer):
    committer: _Committer


class RestCommit(Answer):
    """An entry of a commit list as GitHub and Gitea both send it: the date
    of its commit is all that is read."""

    commit: _CommitDetail


REST_COMMITS = TypeAdapter(list[RestCommit])


def unexpected(
    reply: Reply, field: str | None = None, why: str | None = None
) -> PermanentError:
    """The error for an answer not in the documented shape or the stored limits.

    Its ETag is forgotten, so the answer is asked for in full next time.
    """
    forget_etag(reply)
    message = "unexpected response" + (f": {field}: {why}" if field else "")
    return PermanentError(message, url=reply.url, status=reply.status)


def parse(model: type[M], reply: Reply) -> M:
    """The reply's body read as `model`."""
    try:
        return model.model_validate(reply.data, strict=True)
    except ValidationError as exc:
        raise _refused(reply, "", exc) from None


def check(adapter: TypeAdapter[T], value: Any, *, field: str, reply: Reply) -> T:
    """A value `field` of the reply, read as `adapter` says."""
    try:
        return adapter.validate_python(value, strict=True)
    except ValidationError as exc:
        raise _refused(reply, field, exc) from None


def sift(adapter: TypeAdapter[T], entries: Iterable[Any]) -> list[T]:
    """The entries `adapter` takes, in their order; the others are left out."""
    kept: list[T] = []
    for entry in entries:
        try:
            kept.append(adapter.validate_python(entry, strict=True))
        except ValidationError:
            continue
    return kept


def moved_ref(reply: Reply, asked: RepoRef, field: str, path: str) -> RepoRef:
    """The repository at `path` on the asked host, as the answer's `field` names it.

    The path goes into the URLs of the calls that follow, so only
    well-formed segments are taken (`is_repo_path`); its URL becomes the
    package's repo_url, so it must fit that column.
    """
    if not is_repo_path(path, asked.forge):
        raise unexpected(reply, field, "must be a repository path (owner/name)")
    ref = RepoRef(forge=asked.forge, host=asked.host, path=path)
    try:
        _URL.validate_python(ref.canonical_url)
    except ValidationError:
        raise unexpected(reply, field, "makes a repository URL too long") from None
    return ref


def _refused(reply: Reply, field: str, exc: ValidationError) -> PermanentError:
    """The first of a validation's errors, as "unexpected response: FIELD: why"."""
    error = exc.errors()[0]
    where = field
    for part in error["loc"]:
        where += f"[{part}]" if isinstance(part, int) else f".{part}"
    why = str(error["msg"]).removeprefix("Value error, ")
    return unexpected(reply, where.removeprefix(".") or "body", why)
