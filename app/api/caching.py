"""HTTP validators and cache headers: ETag, Last-Modified, 304 and 412.

Every GET of the API carries an ETag and a Last-Modified. Both come from
the rows' `version` and `changed_at`, which database triggers keep on every
change (migration 0004), so they are the same on every replica of one
database and move on every edit, refresh or import. They are known before
the answer is built: a request whose If-None-Match (or, without one,
If-Modified-Since) still matches gets a 304 with no body after one small
query, and nothing is serialised.

An ETag also covers what shapes the body besides the rows: the scheme and
host that links are built from, the `format` they keep and the time zone
timestamps are shown in.

PATCH and DELETE honour If-Match (and If-Unmodified-Since): a version that
is no longer current is a 412, so two editors cannot overwrite each other
unknowingly. Conditional requests follow RFC 9110 section 13.
https://www.rfc-editor.org/rfc/rfc9110#section-13
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from fastapi import Request, Response

from app.api.links import Links
from app.config import Settings
from app.db.base import utcnow
from app.errors import PreconditionFailed


@dataclass(frozen=True, slots=True)
class Validators:
    etag: str  # a quoted entity tag, as sent in the ETag header
    # None where no moment of last change is known exactly: then the answer
    # has no Last-Modified and If-Modified-Since alone never makes a 304.
    last_modified: datetime | None


def _digest(*parts: object) -> str:
    text = "\x1f".join(str(part) for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _context(links: Links, settings: Settings) -> str:
    return _digest(links.base, links.format or "", settings.time_zone)[:8]


def item_validators(
    version: int, changed_at: datetime | None, links: Links, settings: Settings
) -> Validators:
    """Validators of one row: `"v<version>-<context>"`."""
    return Validators(
        etag=f'"v{version}-{_context(links, settings)}"',
        last_modified=changed_at or datetime.fromtimestamp(0, UTC),
    )


def digest_validators(
    parts: Iterable[object],
    last_modified: datetime | None,
    links: Links,
    settings: Settings,
) -> Validators:
    """Validators of anything else: a digest of what its body is made of."""
    return Validators(
        etag=f'"{_digest(*parts, _context(links, settings))}"',
        last_modified=last_modified or datetime.fromtimestamp(0, UTC),
    )


def content_validators(content: str, links: Links, settings: Settings) -> Validators:
    """Validators of an answer made of many rows and computed values: a
    digest of its serialised body, with no Last-Modified."""
    return Validators(
        etag=f'"{_digest(content, _context(links, settings))}"', last_modified=None
    )


def _entity_tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def _opaque(tag: str) -> str:
    return tag.removeprefix("W/")


def http_date(value: str) -> datetime | None:
    """An HTTP date (RFC 9110 5.6.7), or None when it is not one."""
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _whole_seconds(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def is_fresh(request: Request, validators: Validators) -> bool:
    """Whether the client's copy still matches (RFC 9110 13.2.2, GET and HEAD)."""
    return fresh_for(
        request.headers.get("if-none-match"),
        request.headers.get("if-modified-since"),
        validators.etag,
        validators.last_modified,
    )


def fresh_for(
    if_none_match: str | None,
    if_modified_since: str | None,
    etag: str,
    last_modified: datetime | None,
) -> bool:
    """Whether a copy with these validators is still the client's.

    If-None-Match decides when present (weak comparison); otherwise
    If-Modified-Since, to the second that HTTP dates have.
    """
    if if_none_match is not None:
        tags = _entity_tags(if_none_match)
        return "*" in tags or _opaque(etag) in map(_opaque, tags)
    if if_modified_since is not None and last_modified is not None:
        since = http_date(if_modified_since)
        if since is not None:
            return _whole_seconds(last_modified) <= since
    return False


def validator_headers(validators: Validators) -> dict[str, str]:
    """ETag, and Last-Modified once the second it names is over.

    An HTTP date has whole seconds, so two versions made within one second
    share a Last-Modified: a client handed the first one's date could be
    told, by If-Modified-Since, that it still holds the second. No date is
    handed out until its second has passed (RFC 9110 8.8.2.2 calls a
    Last-Modified in the current second weak); the ETag tells versions
    apart meanwhile.
    """
    moment = validators.last_modified
    if moment is None or _whole_seconds(moment) >= _whole_seconds(utcnow()):
        return {"ETag": validators.etag}
    return {
        "ETag": validators.etag,
        "Last-Modified": format_datetime(_whole_seconds(moment), usegmt=True),
    }


def cache_control(settings: Settings) -> str:
    """Public answers: browsers revalidate, a shared cache may keep them briefly."""
    directives = [
        "public",
        f"max-age={settings.cache_max_age}",
        f"s-maxage={settings.cache_shared_max_age}",
    ]
    if settings.cache_stale_while_revalidate:
        directives.append(
            f"stale-while-revalidate={settings.cache_stale_while_revalidate}"
        )
    if settings.cache_stale_if_error:
        directives.append(f"stale-if-error={settings.cache_stale_if_error}")
    return ", ".join(directives)


def cache_headers(
    validators: Validators, settings: Settings, *, revalidate: bool = False
) -> dict[str, str]:
    return {
        **validator_headers(validators),
        # An answer that depends on the clock is checked again every time,
        # and never kept by the response cache (it keeps public ones only).
        "Cache-Control": "no-cache" if revalidate else cache_control(settings),
        "Vary": "Accept",
    }


def not_modified(
    request: Request,
    response: Response,
    validators: Validators,
    settings: Settings,
    *,
    revalidate: bool = False,
) -> Response | None:
    """A 304 when the client's copy is current; else sets the headers on `response`."""
    headers = cache_headers(validators, settings, revalidate=revalidate)
    if is_fresh(request, validators):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return None


def _version_part(tag: str) -> str:
    """`"v5-1a2b3c4d"` -> `"v5`: the row's version, whatever link context."""
    return tag.split("-", 1)[0]


def check_preconditions(request: Request, validators: Validators) -> None:
    """Refuse an edit of a version the client has not seen (RFC 9110 13.2.2).

    If-Match names versions by their ETag; a weak tag never matches. An ETag
    from a GET with other links (another `format`, host) names the same
    version. Without If-Match, If-Unmodified-Since is checked instead.
    """
    if_match = request.headers.get("if-match")
    if if_match is not None:
        tags = _entity_tags(if_match)
        if "*" in tags:
            return
        current = _version_part(validators.etag)
        strong = [tag for tag in tags if not tag.startswith("W/")]
        if not any(_version_part(tag) == current for tag in strong):
            raise PreconditionFailed(
                f"The package has changed: If-Match {if_match} is not its current "
                f"ETag {validators.etag}. GET it again and reapply the change.",
                headers=validator_headers(validators),
            )
        return
    if_unmodified_since = request.headers.get("if-unmodified-since")
    if if_unmodified_since is not None:
        since = http_date(if_unmodified_since)
        if (
            since is not None
            and validators.last_modified is not None
            and _whole_seconds(validators.last_modified) > since
        ):
            raise PreconditionFailed(
                f"The package has changed since {if_unmodified_since}. "
                "GET it again and reapply the change.",
                headers=validator_headers(validators),
            )
