"""Settings, read once from the environment (and an optional `.env` file).

Every name here is part of the service's interface: deployment scripts and
other tools set them, so they are kept stable.
"""

import ipaddress
import math
import re
from datetime import timedelta
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import RateLimitItem
from pydantic import (
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.api.ratelimit import parse_rate
from app.packages.repo_url import FORGE_HOSTS

# A host name as it appears in a repository URL, without a port.
_HOST = re.compile(
    r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$"
)
# Bounds of the time settings: far past any sensible value, and well short
# of where sleeping or adding to a timestamp would overflow.
_HOUR = 3600
_DAY = 86400
_LONGEST = timedelta(days=3650)
# Where a self-hosted instance's API lives when its entry names only the host.
_API_PATHS = {"gitlab_hosts": "/api/v4", "gitea_hosts": "/api/v1"}


class Settings(BaseSettings):
    # Errors name the setting but never echo its value: some values are tokens.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = Field(
        default="sqlite+aiosqlite:///./packages.db",
        description="The database: sqlite+aiosqlite:///PATH, or postgresql+asyncpg://USER:PASSWORD@HOST/DB for PostgreSQL.",
    )

    github_api_url: str = Field(
        default="https://api.github.com", description="GitHub's REST API."
    )
    github_token: SecretStr | None = Field(
        default=None,
        description="Sent to GitHub as a bearer token (5,000 requests an hour instead of 60, and GraphQL); never logged.",
    )
    gitlab_api_url: str = Field(
        default="https://gitlab.com/api/v4", description="gitlab.com's REST API."
    )
    gitlab_token: SecretStr | None = Field(
        default=None,
        description="Sent to gitlab.com only, as a bearer token; never logged.",
    )
    bitbucket_api_url: str = Field(
        default="https://api.bitbucket.org/2.0",
        description="Bitbucket Cloud's REST API.",
    )
    bitbucket_token: SecretStr | None = Field(
        default=None,
        description="A Bitbucket access token, sent to Bitbucket only as a bearer token; never logged.",
    )
    codeberg_api_url: str = Field(
        default="https://codeberg.org/api/v1", description="Codeberg's Forgejo API."
    )
    codeberg_token: SecretStr | None = Field(
        default=None,
        description="A Codeberg access token, sent to Codeberg only; never logged.",
    )
    gitlab_hosts: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Self-hosted GitLab instances, comma-separated: HOST (API at https://HOST/api/v4) or HOST=API_BASE_URL.",
    )
    gitea_hosts: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Self-hosted Gitea and Forgejo instances, comma-separated: HOST (API at https://HOST/api/v1) or HOST=API_BASE_URL.",
    )
    gitlab_host_tokens: Annotated[dict[str, SecretStr], NoDecode] = Field(
        default_factory=dict,
        description="Tokens for the GITLAB_HOSTS instances, comma-separated HOST=TOKEN, each sent only to its own host; never logged.",
    )
    gitea_host_tokens: Annotated[dict[str, SecretStr], NoDecode] = Field(
        default_factory=dict,
        description="Tokens for the GITEA_HOSTS instances, comma-separated HOST=TOKEN, each sent only to its own host; never logged.",
    )
    pypi_url: str = Field(default="https://pypi.org", description="PyPI's JSON API.")

    fetch_enabled: bool = Field(
        default=True, description="Run the background refresh inside serve."
    )
    fetch_interval: timedelta = Field(
        default=timedelta(hours=24),
        gt=timedelta(0),
        le=_LONGEST,
        description="How old last_fetched may get before a package is due again.",
    )
    fetch_concurrency: int = Field(
        default=16, ge=1, le=256, description="Packages fetched at the same time."
    )
    fetch_timeout: float = Field(
        default=10.0,
        gt=0,
        le=_HOUR,
        allow_inf_nan=False,
        description="Seconds per upstream request.",
    )
    fetch_max_body: int = Field(
        default=32 * 2**20,
        ge=1024,
        description="Largest upstream answer read, in bytes; a larger one is refused.",
    )
    fetch_retries: int = Field(
        default=3, ge=1, le=10, description="Attempts for a transient upstream failure."
    )
    fetch_retry_delay: float = Field(
        default=1.0,
        ge=0,
        le=_HOUR,
        allow_inf_nan=False,
        description="First backoff delay in seconds; it doubles.",
    )
    fetch_stats_attempts: int = Field(
        default=4,
        ge=1,
        le=10,
        description="Asks of a GitHub statistic that answers 202.",
    )
    fetch_stats_delay: float = Field(
        default=1.0,
        ge=0,
        le=_HOUR,
        allow_inf_nan=False,
        description="First wait in seconds after a 202; it doubles.",
    )
    fetch_batch_size: int = Field(
        default=200, ge=1, le=10_000, description="Packages taken per round."
    )
    fetch_lease: timedelta = Field(
        default=timedelta(minutes=10),
        gt=timedelta(0),
        le=_LONGEST,
        description="How long a worker holds the packages it claimed before others may take them.",
    )
    fetch_shutdown_grace: float = Field(
        default=10.0,
        ge=0,
        le=_HOUR,
        allow_inf_nan=False,
        description="Seconds a stopping refresher lets fetches in flight finish.",
    )
    fetch_poll_seconds: float = Field(
        default=60.0,
        gt=0,
        le=_DAY,
        allow_inf_nan=False,
        description="Pause of the background refresh between rounds, in seconds (a refresh asked for over the API wakes its own process at once).",
    )
    fetch_contributor_pages: int = Field(
        default=10,
        ge=1,
        le=100,
        description="Most contributor pages read (100 logins each).",
    )
    fetch_commit_pages: int = Field(
        default=10,
        ge=1,
        le=100,
        description="Most pages of commits read for a year of weekly counts (GitLab, Bitbucket, Gitea).",
    )
    fetch_rate_limit_max_wait: float = Field(
        default=60.0,
        ge=0,
        le=_DAY,
        allow_inf_nan=False,
        description="Longest rate-limit pause in seconds a fetch waits out; a longer one makes the package rate_limited until the next round.",
    )
    fetch_host_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Requests in flight to one upstream host at a time; unset means FETCH_CONCURRENCY.",
    )
    fetch_rate_limit_reserve: int = Field(
        default=50,
        ge=0,
        description="Remaining quota (at most a tenth of the limit) under which calls to a host wait for its reset.",
    )
    fetch_gone_after: int = Field(
        default=3,
        ge=1,
        le=100,
        description="404 answers, spaced apart, before a repository or project counts as gone.",
    )
    fetch_gone_spacing: timedelta = Field(
        default=timedelta(hours=24),
        ge=timedelta(0),
        le=_LONGEST,
        description="Least time between two 404 answers that both count towards gone.",
    )
    fetch_blocked_cooldown: timedelta = Field(
        default=timedelta(days=7),
        ge=timedelta(0),
        le=_LONGEST,
        description="How long a source answering 451 or access blocked is not asked again.",
    )

    time_zone: str = Field(
        default="UTC",
        description="IANA zone that served timestamps are shown in (such as America/New_York).",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Comma-separated IP addresses and networks (10.0.0.0/8) of the proxies whose X-Forwarded-* headers are trusted, or * alone to trust any.",
    )
    rate_limit_writes: str = Field(
        default="120/minute",
        description="Most POST, PUT, PATCH and DELETE requests under /api/ one client (its token, else its address) may make, such as 120/minute or 10/second; empty turns the limit off. Counted per process.",
    )
    rate_limit_reads: str = Field(
        default="",
        description="Most GET and HEAD requests under /api/ one client may make, in the same form; empty (the default) turns the limit off.",
    )
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins whose browser pages may call the API, comma-separated (https://app.example.org), or *; empty (the default) sends no CORS headers at all.",
    )
    public_base_url: str = Field(
        default="http://localhost:8000",
        description="Scheme and host for links written outside a request (export).",
    )
    cache_max_age: int = Field(
        default=0,
        ge=0,
        description="Seconds a browser may reuse a GET answer without asking again (Cache-Control max-age); 0 means it revalidates with its ETag each time.",
    )
    cache_shared_max_age: int = Field(
        default=60,
        ge=0,
        description="Seconds a shared cache or CDN may serve a GET answer without asking (s-maxage).",
    )
    cache_stale_while_revalidate: int = Field(
        default=30,
        ge=0,
        description="Seconds past that a cache may serve the old answer while it revalidates in the background (0 leaves the directive out).",
    )
    cache_stale_if_error: int = Field(
        default=86400,
        ge=0,
        description="Seconds past that a cache may serve the old answer when the service fails or is unreachable (0 leaves the directive out).",
    )
    response_cache_mb: int = Field(
        default=16,
        ge=0,
        le=4096,
        description="Megabytes of finished GET answers each API process keeps in memory and serves again until the catalogue changes; 0 turns the response cache off.",
    )
    change_poll_seconds: float = Field(
        default=0.25,
        gt=0,
        le=10,
        allow_inf_nan=False,
        description="On SQLite, how often each API process checks for changes made by other processes (PostgreSQL notifies at once).",
    )
    load_sample_data: bool = Field(
        default=True,
        description="Load the sample catalogue into an empty database on serve.",
    )
    log_format: Literal["console", "json"] = Field(
        default="console",
        description="console for readable lines in a terminal, json for one JSON object per line (production).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Least severe log level written."
    )
    worker_niceness: int = Field(
        default=10,
        ge=0,
        le=19,
        description="How far packages-api worker lowers its CPU priority (nice), so that API processes on the same machine answer first; 0 keeps it.",
    )
    worker_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port on which packages-api worker serves /metrics (Prometheus); unset serves none.",
    )
    worker_metrics_host: str = Field(
        default="127.0.0.1",
        description="Address on which packages-api worker serves its metrics (0.0.0.0 in a container).",
    )

    @field_validator(
        "github_token",
        "gitlab_token",
        "bitbucket_token",
        "codeberg_token",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("gitlab_hosts", "gitea_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object, info: ValidationInfo) -> object:
        """Comma-separated entries, each HOST or HOST=API_BASE_URL."""
        if not isinstance(value, str):
            return value
        hosts: dict[str, str] = {}
        for host, api in _entries(value, secret=False):
            if not api:
                api = f"https://{host}{_API_PATHS[info.field_name or '']}"
            if (problem := _http_url_problem(api)) is not None:
                raise ValueError(f"the API of {host!r} {problem}")
            hosts[host] = api.rstrip("/")
        return hosts

    @field_validator(
        "github_api_url",
        "gitlab_api_url",
        "bitbucket_api_url",
        "codeberg_api_url",
        "pypi_url",
        "public_base_url",
    )
    @classmethod
    def _http_url(cls, value: str) -> str:
        if (problem := _http_url_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        """IP addresses and networks, as uvicorn's ProxyHeadersMiddleware reads
        them: it takes anything else as a name no client address ever equals,
        so a typo would silently trust nobody."""
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        if "*" in entries:
            if len(entries) > 1:
                raise ValueError("* trusts every address, so it must be given alone")
            return "*"
        for number, entry in enumerate(entries, start=1):
            try:
                if "/" in entry:
                    ipaddress.ip_network(entry)  # strict, as uvicorn reads it
                else:
                    ipaddress.ip_address(entry)
            except ValueError as exc:
                raise ValueError(
                    f"entry {number} ({entry!r}) is not an IP address or a network "
                    "such as 10.0.0.0/8 (with no host bits set)"
                ) from exc
        return ",".join(entries)

    @field_validator("gitlab_host_tokens", "gitea_host_tokens", mode="before")
    @classmethod
    def _host_tokens(cls, value: object) -> object:
        """Comma-separated HOST=TOKEN entries."""
        if not isinstance(value, str):
            return value
        return dict(_entries(value, secret=True))

    @model_validator(mode="after")
    def _hosts_agree(self) -> Self:
        both = self.gitlab_hosts.keys() & self.gitea_hosts.keys()
        if both:
            raise ValueError(f"{min(both)} is in both GITLAB_HOSTS and GITEA_HOSTS")
        for name, hosts, tokens in (
            ("GITLAB", self.gitlab_hosts, self.gitlab_host_tokens),
            ("GITEA", self.gitea_hosts, self.gitea_host_tokens),
        ):
            # The public forges have settings of their own (GITLAB_API_URL, ...).
            if public := sorted(hosts.keys() & FORGE_HOSTS.keys()):
                raise ValueError(
                    f"{name}_HOSTS lists {public[0]}, which has settings of its own"
                )
            if unknown := sorted(tokens.keys() - hosts.keys()):
                raise ValueError(
                    f"{name}_HOST_TOKENS names {unknown[0]}, which {name}_HOSTS does not list"
                )
        return self

    @field_validator(
        "fetch_interval",
        "fetch_lease",
        "fetch_gone_spacing",
        "fetch_blocked_cooldown",
        mode="before",
    )
    @classmethod
    def _seconds(cls, value: object) -> object:
        """A plain number is seconds; "HH:MM:SS" and ISO 8601 ("P1D") work too."""
        if not isinstance(value, str):
            return value
        try:
            seconds = float(value)
        except ValueError:
            return value  # read by pydantic
        if not math.isfinite(seconds):
            raise ValueError("must be a finite number of seconds")
        try:
            return timedelta(seconds=seconds)
        except OverflowError as exc:
            raise ValueError(f"must be at most {_LONGEST.days} days") from exc

    @field_validator("rate_limit_writes", "rate_limit_reads")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse_rate(value)  # raises with what is wrong
        return value.strip()

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        origins = []
        for entry in value.split(","):
            origin = entry.strip().rstrip("/")
            if not origin:
                continue
            parts = urlsplit(origin)
            if origin != "*" and (
                parts.scheme not in ("http", "https")
                or not parts.netloc
                or parts.path
                or parts.query
                or parts.fragment
            ):
                raise ValueError(
                    f"{origin!r} is not an origin such as https://app.example.org (scheme and host, no path), or *"
                )
            origins.append(origin)
        return origins

    @property
    def write_rate(self) -> RateLimitItem | None:
        return parse_rate(self.rate_limit_writes)

    @property
    def read_rate(self) -> RateLimitItem | None:
        return parse_rate(self.rate_limit_reads)

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"
            )
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
    def host_concurrency(self) -> int:
        """The per-host cap in force: FETCH_HOST_CONCURRENCY, else FETCH_CONCURRENCY."""
        return self.fetch_host_concurrency or self.fetch_concurrency

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _http_url_problem(url: str) -> str | None:
    """What keeps `url` from being a base URL requests can be made to, said
    of it ("is not ..."); None when nothing does. Never quotes the URL: one
    could hold a password."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number in range)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(char.isspace() for char in url)
    ):
        return "is not an http(s) URL with a host, such as https://example.org"
    if parts.username is not None or parts.password is not None:
        return "holds a user name or password"
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return "has a query or a fragment"
    return None


def _is_host(name: str) -> bool:
    """Whether `name` is an IPv4 address or a DNS name with a dot in it.

    A name whose last label is all digits is neither (999.1.1.1).
    """
    try:
        return ipaddress.ip_address(name).version == 4
    except ValueError:
        pass
    labels = name.split(".")
    return (
        bool(_HOST.match(name))
        and len(name) <= 253
        and all(len(label) <= 63 for label in labels)
        and not labels[-1].isdigit()
    )


def _entries(value: str, *, secret: bool) -> list[tuple[str, str]]:
    """The HOST or HOST=VALUE entries of a comma-separated setting.

    A blank setting has none. With `secret`, every entry needs its value,
    and errors show the entry's number and host but never the entry itself.
    """
    entries: dict[str, str] = {}
    for number, entry in enumerate(value.split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue
        name = f"entry {number}" if secret else f"entry {number} ({entry!r})"
        host, sep, rest = (part.strip() for part in entry.partition("="))
        host = host.lower().removeprefix("www.")
        if not _is_host(host):
            raise ValueError(f"{name} does not start with a host name")
        if not rest and (sep or secret):
            form = "HOST=TOKEN" if secret else "HOST or HOST=API_BASE_URL"
            raise ValueError(f"{name} for {host} is not of the form {form}")
        if host in entries:
            raise ValueError(f"{name} repeats {host}")
        entries[host] = rest
    return list(entries.items())
