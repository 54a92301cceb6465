"""What one fetch of one source means for its `FetchState`: the failure rules.

A source is a package's repository ("repo") or its PyPI project ("pypi").
Each refresh of a package records, per source asked, what happened:

- ok / pending: the source answered (a 304 included; pending means GitHub
  was still computing commit statistics). Errors, not-found evidence and
  any cooldown are cleared, the ETags of the answers are kept.
- failed: a 5xx, timeout, reset connection, malformed body, plain 403, ...
  error_count grows; not-found evidence is left as it was.
- not_found / gone: a 404 (or 410) counts towards "gone" only when it comes
  at least fetch_gone_spacing times the 404s counted so far after the first,
  so one bad afternoon at the upstream does not bury a repository; after
  fetch_gone_after counted 404s the source is gone (gone_at set).
  Stored values are kept either way.
- blocked: 451 or GitHub's "Repository access blocked". Not asked again
  before cooldown_until (now + fetch_blocked_cooldown).
- rate_limited: the upstream asked for a longer wait than we may spend; the
  fetch ends for this round and is not counted as an error.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from app.config import Settings
from app.fetcher.errors import (
    Blocked,
    FetchError,
    NotFound,
    RateLimited,
    clean_error_text,
)
from app.fetcher.http import ETags
from app.fetcher.repository import SourceState


@dataclass(slots=True)
class SourceRun:
    """One source's part of one package's refresh."""

    stored: SourceState
    etags: ETags
    fetched: bool = False  # the source's own data came back, if not all of it
    errors: list[FetchError] = field(default_factory=list)
    pending: bool = False
    moved_from: str | None = None  # the repo_url a rename replaced
    unsupported: frozenset[str] | None = None

    @classmethod
    def start(cls, stored: SourceState) -> "SourceRun":
        return cls(stored=stored, etags=ETags(stored.etags))

    @property
    def rate_limited(self) -> bool:
        return any(isinstance(error, RateLimited) for error in self.errors)

    @property
    def failures(self) -> list[FetchError]:
        """The errors that count against the package; a rate limit does not."""
        return [error for error in self.errors if not isinstance(error, RateLimited)]


def in_cooldown(stored: SourceState, now: datetime) -> bool:
    return stored.cooldown_until is not None and stored.cooldown_until > now


def next_state(
    run: SourceRun, *, now: datetime, settings: Settings, secrets: list[str]
) -> dict[str, Any]:
    """The FetchState columns to set after `run`; those absent stay as stored."""
    stored = run.stored
    values: dict[str, Any] = {"last_attempt_at": now}
    # What stopped the source, when nothing of it came back.
    stopper = run.errors[0] if not run.fetched and run.errors else None
    failures = run.failures

    if isinstance(stopper, Blocked):
        values["status"] = "blocked"
        values["cooldown_until"] = now + settings.fetch_blocked_cooldown
        values.update(_failed(stored, failures, secrets))
    elif isinstance(stopper, NotFound):
        values.update(_not_found(stored, now, settings))
        values.update(_failed(stored, failures, secrets))
    elif run.rate_limited:
        limits = [error for error in run.errors if isinstance(error, RateLimited)]
        values["status"] = "rate_limited"
        values["last_error"] = error_text(limits, secrets)
    elif failures:
        values["status"] = "failed"
        values.update(_failed(stored, failures, secrets))
    else:
        values.update(
            status="pending" if run.pending else "ok",
            last_success_at=now,
            last_error=None,
            error_count=0,
        )

    if run.fetched:
        # It answered, so it is there and reachable.
        values.update(
            not_found_count=0, not_found_since=None, gone_at=None, cooldown_until=None
        )
        if not run.rate_limited:
            values["etags"] = dict(run.etags.current)
            if run.unsupported is not None:
                values["unsupported"] = sorted(run.unsupported)
    if run.moved_from is not None and run.moved_from not in stored.previous_urls:
        values["previous_urls"] = [*stored.previous_urls, run.moved_from]
    return values


def error_text(errors: Sequence[FetchError], secrets: list[str]) -> str:
    return clean_error_text("; ".join(str(error) for error in errors), secrets)


def _failed(
    stored: SourceState, failures: list[FetchError], secrets: list[str]
) -> dict[str, Any]:
    return {
        "error_count": stored.error_count + 1,
        "last_error": error_text(failures, secrets),
    }


def _not_found(
    stored: SourceState, now: datetime, settings: Settings
) -> dict[str, Any]:
    count, since = stored.not_found_count, stored.not_found_since
    if count == 0 or since is None:
        count, since = 1, now
    elif now >= since + settings.fetch_gone_spacing * count:
        count += 1
    gone = count >= settings.fetch_gone_after
    values: dict[str, Any] = {
        "status": "gone" if gone else "not_found",
        "not_found_count": count,
        "not_found_since": since,
    }
    if gone:
        values["gone_at"] = stored.gone_at or now
    return values


def settings_secrets(settings: Settings) -> list[str]:
    """Every secret among the settings (tokens), to keep out of stored errors."""
    secrets: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        values = value.values() if isinstance(value, dict) else [value]
        secrets.extend(
            one.get_secret_value() for one in values if isinstance(one, SecretStr)
        )
    return [secret for secret in secrets if secret]
