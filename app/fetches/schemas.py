"""The fetch state of a package, kept apart from the v4 package shape."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.api.links import Hyperlink

RefreshState = Literal["idle", "queued", "running", "done", "failed"]
Source = Literal["repo", "pypi"]
Upstream = Literal["github", "gitlab", "bitbucket", "codeberg", "gitea", "pypi"]
SourceStatus = Literal[
    "never",
    "ok",
    "pending",
    "failed",
    "not_found",
    "gone",
    "blocked",
    "rate_limited",
    "unsupported",
]


class SourceFetchRead(BaseModel):
    source: Source = Field(
        description="`repo` for the repository's forge, `pypi` for PyPI."
    )
    upstream: Upstream | None = Field(
        description="Which service answers for this source (github, gitlab, pypi, ...); null for a repository host that is not supported."
    )
    url: str = Field(description="The package's URL this source is read from.")
    status: SourceStatus = Field(
        description="never, ok, pending (statistics still computing), failed, not_found, gone, blocked, rate_limited or unsupported."
    )
    ok: bool | None = Field(
        description="Whether the last try succeeded; null before any."
    )
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None = Field(description="What went wrong last, without secrets.")
    error_count: int = Field(ge=0, description="Failures in a row.")
    next_try_at: datetime | None = Field(
        description="When this source is asked next; null means at the next round."
    )
    unsupported: list[str] = Field(
        description="Package fields this source cannot supply (kept as they are)."
    )


class FetchRead(BaseModel):
    package: Hyperlink = Field(description="Hyperlink to the package.")
    state: RefreshState = Field(
        description="queued (asked for), running, done or failed (the last run), or idle before any run."
    )
    requested_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    next_due_at: datetime | None = Field(
        description="When the next scheduled refresh is due; null means now."
    )
    sources: list[SourceFetchRead]
