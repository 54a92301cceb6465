"""JSON text read strictly, with each fault located.

Python's `json` keeps the last value of a key an object gives twice, which
hides that the writer meant two things, and refuses an integer of more
than `sys.get_int_max_str_digits()` digits (4300 unless configured) with a
ValueError that says nothing of where it is. `loads` reads both kinds of
text without failing; `first_fault` then finds the first such place, so the
caller can name it (a request body's field, a catalogue record's key).
"""

import json
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Fault:
    path: list[str | int]  # the keys and indexes that lead to it
    message: str
    kind: str  # a stable code: duplicate_key, number_too_long


class _Object(dict[str, Any]):
    """A JSON object, with the first key it gives twice."""

    repeated: str | None = None


class _LongNumber:
    def __init__(self, digits: int) -> None:
        self.digits = digits


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    found = _Object()
    for key, value in pairs:
        if key in found and found.repeated is None:
            found.repeated = key
        found[key] = value
    return found


def _integer(text: str) -> int | _LongNumber:
    try:
        return int(text)
    except ValueError:
        return _LongNumber(len(text.lstrip("-")))


def loads(text: str | bytes) -> Any:
    """Parse JSON text as `json.loads` does, but for the two faults above,
    which `first_fault` reports; raises what `json.loads` raises otherwise
    (ValueError, RecursionError)."""
    return json.loads(text, object_pairs_hook=_object, parse_int=_integer)


def first_fault(value: Any, max_depth: int | None = None) -> Fault | None:
    """The first fault in what `loads` gave, in document order; walked
    without recursion.

    With `max_depth`, arrays and objects nested deeper than that are a fault
    too (`too_deep`), reported only when the value has no other fault.
    """
    too_deep: Fault | None = None
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if isinstance(item, _LongNumber):
            return Fault(
                path,
                f"is a number of {item.digits} digits; a number may have at most "
                f"{sys.get_int_max_str_digits()}",
                "number_too_long",
            )
        children: list[tuple[str | int, Any]]
        if isinstance(item, _Object):
            if item.repeated is not None:
                return Fault(
                    [*path, item.repeated], "key appears twice", "duplicate_key"
                )
            children = list(item.items())
        elif isinstance(item, list):
            children = list(enumerate(item))
        else:
            continue
        # The outermost array or object is the first level.
        if max_depth is not None and too_deep is None and len(path) >= max_depth:
            too_deep = Fault(
                path,
                f"nests arrays and objects deeper than {max_depth} levels",
                "too_deep",
            )
        stack.extend((child, [*path, key]) for key, child in reversed(children))
    return too_deep
