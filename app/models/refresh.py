"""Bookkeeping of the refresh, kept apart from the served package rows.

`FetchState` is one row per package and source ("repo" for its forge,
"pypi"): what happened the last time that upstream was asked, what it
cannot supply, the ETags for conditional requests, and the evidence that a
repository is gone. `PackageRefresh` is one row per package: when it is due,
who holds it (a lease, so many workers share the work), and whether someone
asked for a refresh now.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, JSONValue, UTCDateTime

SOURCES = ("repo", "pypi")


class FetchState(Base):
    __tablename__ = "fetch_states"

    package_id: Mapped[int] = mapped_column(
        ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(10), primary_key=True)

    # never | ok | pending | failed | not_found | gone | blocked | rate_limited
    status: Mapped[str] = mapped_column(String(20), default="never")
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_count: Mapped[int] = mapped_column(Integer, default=0)

    # A repository is "gone" only after several 404s spaced apart in time.
    not_found_count: Mapped[int] = mapped_column(Integer, default=0)
    not_found_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    gone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Set after a 451 or an access block: the upstream is not asked before then.
    cooldown_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Endpoint name -> ETag of its last 200, for If-None-Match.
    etags: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    # Package fields this source cannot supply (Bitbucket has no stars, ...).
    unsupported: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    # Earlier repo_urls of a renamed repository, oldest first.
    previous_urls: Mapped[list[str]] = mapped_column(JSONValue, default=list)


class PackageRefresh(Base):
    __tablename__ = "package_refreshes"

    package_id: Mapped[int] = mapped_column(
        ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True
    )
    # When the package is next due; null means now.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # queued (asked for now) | running | done | failed; null before the first run.
    state: Mapped[str | None] = mapped_column(String(10))
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
