"""Structured logs: readable lines in a terminal, JSON lines in production.

Every line carries the id of the request it was written for (`request_id`,
also sent back as the X-Request-ID header), and the service's own lines and
those of the libraries under it (uvicorn, ...) share one format. Values of
keys that name a secret (token, authorization, password, ...) are replaced
before anything is written, and a SecretStr never shows its value.
"""

import functools
import logging
import re
import sys
from typing import Any, TextIO

import orjson
import stamina
import structlog
from asgi_correlation_id import correlation_id
from pydantic import SecretStr

from app.redaction import REDACTED, redact_tokens

_SECRET_KEY = re.compile(r"token|secret|password|authorization|cookie|api_key", re.I)


def add_request_id(
    _logger: Any, _method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    request_id = correlation_id.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


@functools.lru_cache(maxsize=1024)
def _names_a_secret(key: str) -> bool:
    # Lines reuse a few keys over and over; each is matched once.
    return _SECRET_KEY.search(key) is not None


def redact_secrets(
    _logger: Any, _method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    for key, value in event.items():
        if isinstance(value, SecretStr) or (
            _names_a_secret(key) and value not in (None, "")
        ):
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = redact_tokens(value)  # a path or query that carries one
    return event


def redact_tracebacks(
    _logger: Any, _method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Tokens out of a formatted traceback or stack too: an exception's text
    can repeat what it failed on (a database error quotes its parameters)."""
    for key in ("exception", "stack"):
        value = event.get(key)
        if isinstance(value, str):
            event[key] = redact_tokens(value)
    return event


def _dumps(event: Any, default: Any = None, **_options: Any) -> str:
    # orjson: a JSON line in a fraction of the standard library's time, which
    # matters for the one line every request writes.
    return orjson.dumps(event, default=default, option=orjson.OPT_NON_STR_KEYS).decode()


class _StandardError:
    """Whatever sys.stderr is when a line is written, not when logging was
    configured: loggers are cached on first use, and a caller (a test
    runner, say) may swap standard error for a while and close its own."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(
    log_format: str = "console", level: str = "INFO", *, stream: TextIO | None = None
) -> None:
    output: Any = stream or _StandardError()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=output.isatty())
    )
    number = logging.getLevelNamesMapping()[level.upper()]
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    # Retries are reported once, by the fetcher, with the package and URL
    # (`fetch.failed`); stamina's own line per retry would say neither.
    stamina.instrumentation.set_on_retry_hooks([])
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            redact_tracebacks,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.PrintLoggerFactory(output),
        cache_logger_on_first_use=stream is None,
    )

    # Lines from the standard library's logging (uvicorn, SQLAlchemy, ...)
    # go through the same processors and renderer.
    handler = logging.StreamHandler(output)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_tracebacks,
                renderer,
            ],
        )
    )
    # Libraries speak up from WARNING on (httpx, Alembic, ... are chatty at
    # INFO); uvicorn's server lines follow LOG_LEVEL. uvicorn's access log
    # stays off (serve turns it off): its lines hold query strings, and
    # `request.finished` says the same with the request id.
    quiet = max(number, logging.WARNING)

    def wanted(record: logging.LogRecord) -> bool:
        own = record.name == "uvicorn" or record.name.startswith("uvicorn.")
        return record.levelno >= (number if own else quiet)

    handler.addFilter(wanted)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(quiet)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
        logging.getLogger(name).setLevel(number)
