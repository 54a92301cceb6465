"""The README's table of settings, written from the `Settings` model itself.

`packages-api settings` prints the table; `packages-api settings --write
README.md` replaces the one between the README's markers. A test checks the
README's table is the one the model gives, so a setting cannot be added,
renamed or changed without its documentation following.
"""

import types
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from app.config import Settings

START = "<!-- settings table: made by `packages-api settings --write README.md` -->"
END = "<!-- end of settings table -->"

DURATION = "duration"


def settings_table() -> str:
    """One Markdown row per setting: variable, type, default and meaning."""
    rows = [
        "| variable | type | default | what |",
        "| --- | --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        rows.append(
            f"| `{name.upper()}` | {_type(field.annotation)} | {_default(field)} "
            f"| {_escape(field.description or '')} |"
        )
    return "\n".join(rows) + "\n"


def with_table(readme: str) -> str:
    """`readme` with the text between the markers replaced by the table."""
    before, start, rest = readme.partition(START)
    _, end, after = rest.partition(END)
    if not start or not end:
        raise ValueError(f"the README has no {START!r} ... {END!r} markers")
    return f"{before}{START}\n{settings_table()}{END}{after}"


def table_in(readme: str) -> str:
    """The table between the README's markers, as written there."""
    _, _, rest = readme.partition(START)
    table, _, _ = rest.partition(END)
    return table.removeprefix("\n")


def write(path: Path) -> bool:
    """Rewrite the table in the file at `path`; whether anything changed."""
    text = path.read_text(encoding="utf-8")
    updated = with_table(text)
    if updated == text:
        return False
    path.write_text(updated, encoding="utf-8")
    return True


def _type(annotation: Any) -> str:
    optional = False
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        optional = len(members) < len(get_args(annotation))
        annotation = members[0]
    text = _plain_type(annotation)
    return f"{text}, optional" if optional and annotation is not SecretStr else text


def _plain_type(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return " or ".join(f"`{value}`" for value in get_args(annotation))
    if get_origin(annotation) is list:
        return "comma-separated list"
    if get_origin(annotation) is dict:
        _, value = get_args(annotation)
        return "`HOST=TOKEN` list (secret)" if value is SecretStr else "host list"
    names = {
        str: "string",
        SecretStr: "secret",
        bool: "boolean",
        int: "integer",
        float: "number",
        timedelta: DURATION,
    }
    return names[annotation]


def _default(field: FieldInfo) -> str:
    value = (
        field.default_factory()  # type: ignore[call-arg]
        if field.default_factory is not None
        else field.default
    )
    if value is PydanticUndefined or value is None or value in ({}, []):
        return "unset"
    if value == "":
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    if isinstance(value, timedelta):
        return f"`{_duration(value)}`"
    return f"`{value}`"


def _duration(value: timedelta) -> str:
    if value.days and not value.seconds and not value.microseconds:
        return f"P{value.days}D"
    seconds = int(value.total_seconds())
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")
