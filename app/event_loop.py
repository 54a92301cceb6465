"""How the command-line processes run their asyncio work.

uvloop's event loop does the same work as asyncio's with less CPU per
callback and per socket read; the refresh worker spends most of its CPU
there. It is used where it is installed (everywhere but Windows);
`packages-api serve` gets it from uvicorn in the same way.
"""

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

try:
    import uvloop
except ImportError:  # pragma: no cover - only where uvloop does not build
    uvloop = None  # type: ignore[assignment]


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a new event loop, as `asyncio.run` does."""
    if uvloop is None:  # pragma: no cover
        return asyncio.run(main)
    return uvloop.run(main)
