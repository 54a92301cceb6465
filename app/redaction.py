"""Tokens are never repeated back: not in an answer, not in a log line.

A client may put its token where it does not belong: in a path, a query
string, a body key or value. Problems (`instance`, `detail`, `errors`), the
browsable page's request line and every log field name what the client
sent, so each passes through `redact_tokens` first. API tokens are
recognisable by their prefix (`TOKEN_PREFIX` in app/auth/tokens.py).
"""

import re

TOKEN_PREFIX = "pkapi_"
REDACTED = "[redacted]"
_TOKEN = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_\-]+")


def redact_tokens(text: str) -> str:
    """`text` with every API token in it replaced by `[redacted]`."""
    if TOKEN_PREFIX not in text:
        return text  # the usual case, without a regex
    return _TOKEN.sub(REDACTED, text)
