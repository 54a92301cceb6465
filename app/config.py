"""Settings, read once from the environment (and an optional `.env` file).

Every name here is part of the service's interface: deployment scripts and
other tools set them, so they are kept stable.
"""

from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./packages.db"

    github_api_url: str = "https://api.github.com"
    github_token: SecretStr | None = None
    pypi_url: str = "https://pypi.org"

    fetch_enabled: bool = True
    fetch_interval: timedelta = Field(
        default=timedelta(hours=24),
        gt=timedelta(0),
        description="How old last_fetched may get before a package is due again.",
    )
    fetch_concurrency: int = Field(default=16, ge=1, le=256)
    fetch_timeout: float = Field(default=10.0, gt=0, description="Seconds per request.")
    fetch_retries: int = Field(
        default=3, ge=1, le=10, description="Attempts for a transient upstream failure."
    )
    fetch_retry_delay: float = Field(
        default=1.0, ge=0, description="First backoff delay in seconds; it doubles."
    )
    fetch_stats_attempts: int = Field(
        default=4,
        ge=1,
        le=10,
        description="Asks of a GitHub statistic that answers 202.",
    )
    fetch_stats_delay: float = Field(
        default=1.0, ge=0, description="First wait in seconds after a 202; it doubles."
    )
    fetch_batch_size: int = Field(default=200, ge=1, le=10_000)
    fetch_poll_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Pause of the background refresh between rounds.",
    )
    fetch_contributor_pages: int = Field(default=10, ge=1, le=100)
    fetch_rate_limit_max_wait: float = Field(
        default=60.0,
        ge=0,
        description="Longest rate-limit pause in seconds; a longer one fails the fetch.",
    )

    time_zone: str = Field(
        default="UTC", description="IANA zone that served timestamps are shown in."
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Comma-separated proxy addresses whose X-Forwarded-* headers are trusted, or *.",
    )
    public_base_url: str = Field(
        default="http://localhost:8000",
        description="Scheme and host for links written outside a request (export).",
    )
    load_sample_data: bool = True
    log_format: str = Field(default="console", pattern="^(console|json)$")
    log_level: str = "INFO"

    @field_validator("github_token", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("fetch_interval", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        """A plain number is seconds; "HH:MM:SS" and ISO 8601 ("P1D") work too."""
        if isinstance(value, str):
            try:
                return timedelta(seconds=float(value))
            except (ValueError, OverflowError):
                return value
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)  # ZoneInfo keeps its own cache

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
