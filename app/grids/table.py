"""A grid's matrix as a CSV table (RFC 4180), for spreadsheets.

One column per package, in the order of the JSON answer, after two columns
for the row's name and description. The first rows are the packages' own
(title and live stats, named as in the JSON), then one row per feature.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a
formula, so such text is written with a leading `'`, as OWASP advises
(https://owasp.org/www-community/attacks/CSV_Injection); numbers and texts
made only of `+` and `-` (the usual ratings) are written as they are.
"""

import csv
import io
from typing import Any

from app.grids.schemas import MatrixRead

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_STATS = ("repo_watchers", "repo_forks", "last_updated", "pypi_version", "score")


def _safe(value: Any) -> Any:
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    if value.startswith(_FORMULA_START) and value.strip("+-"):
        return "'" + value
    return value


def matrix_csv(matrix: MatrixRead) -> str:
    # Dumped as JSON dumps them, so times and numbers read the same in both.
    body = matrix.model_dump(mode="json", include={"features", "packages"})
    packages = body["packages"]
    text_at = {(cell.feature, cell.package): cell.text for cell in matrix.cells}

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["feature", "description", *(_safe(p["slug"]) for p in packages)])
    writer.writerow(["title", "", *(_safe(p["title"]) for p in packages)])
    for stat in _STATS:
        writer.writerow([stat, "", *(_safe(p[stat]) for p in packages)])
    for feature in body["features"]:
        writer.writerow(
            [
                _safe(feature["title"]),
                _safe(feature["description"]),
                *(_safe(text_at.get((feature["id"], p["id"]))) for p in packages),
            ]
        )
    return out.getvalue()
