"""The package score: one integer that ranks packages, and why it is what it is.

Rule 2 (`RULE_VERSION`) starts from Django Packages' rule and changes what
is unfair in it:

    stars                              + repo_watchers
    inactivity   - a tenth of the stars for each full quarter (3 months)
                   since the last activity
    python 3     - 30% of the stars, at most 1,000, when there is no
                   Python 3 support
    floor          the total is never below -500

Django Packages counts only the last commit as activity, and takes a
package with no known date for one quarter old; it penalises Python 3 when
it cannot tell. Here:

- activity is the later of the last commit and the PyPI release of the
  current version: a package that ships releases from a quiet repository
  (or from a forge without commit dates) is maintained;
- with no date at all the package loses one quarter's tenth, as in Django
  Packages, since nothing shows it is maintained;
- the Python 3 penalty applies only when PyPI says the project does not
  support Python 3 (classifiers or requires_python); not knowing is no
  penalty.

`compute_score` is pure: the inputs and the moment in, the explanation out.
"""

from dataclasses import dataclass
from datetime import datetime

RULE_VERSION = 2
FLOOR = -500
PYTHON3_SHARE = 0.30
PYTHON3_CAP = 1000


@dataclass(frozen=True, slots=True)
class ScoreInputs:
    stars: int
    last_commit: datetime | None
    last_release: datetime | None
    python3: bool | None


@dataclass(frozen=True, slots=True)
class Component:
    name: str
    inputs: dict[str, object]
    points: int
    why: str


@dataclass(frozen=True, slots=True)
class Score:
    total: int
    components: tuple[Component, ...]
    version: int = RULE_VERSION


def full_quarters(since: datetime, now: datetime) -> int:
    """Whole three-month periods from `since` to `now` (calendar months)."""
    months = (now.year - since.year) * 12 + (now.month - since.month)
    if (now.day, now.time()) < (since.day, since.time()):
        months -= 1
    return max(months, 0) // 3


def compute_score(inputs: ScoreInputs, now: datetime) -> Score:
    stars = max(inputs.stars, 0)
    components = [
        Component(
            "stars",
            {"repo_watchers": stars},
            stars,
            f"The repository has {stars} stars; every star is a point.",
        ),
        _inactivity(inputs, stars, now),
        _python3(inputs.python3, stars),
    ]
    subtotal = sum(component.points for component in components)
    floor_points = FLOOR - subtotal if subtotal < FLOOR else 0
    components.append(
        Component(
            "floor",
            {"floor": FLOOR, "before_floor": subtotal},
            floor_points,
            f"The score is never below {FLOOR}; {floor_points} points lift it there."
            if floor_points
            else f"The score is above the floor of {FLOOR}, so nothing is added.",
        )
    )
    return Score(subtotal + floor_points, tuple(components))


def _inactivity(inputs: ScoreInputs, stars: int, now: datetime) -> Component:
    dates = [d for d in (inputs.last_commit, inputs.last_release) if d is not None]
    values: dict[str, object] = {
        "last_commit": inputs.last_commit,
        "last_release": inputs.last_release,
        "repo_watchers": stars,
    }
    if not dates:
        points = -int(stars / 10)
        return Component(
            "inactivity",
            {**values, "quarters": None},
            points,
            "Neither a commit nor a PyPI release date is known, so the package "
            f"loses a tenth of its stars ({-points}) as if one quarter old.",
        )
    latest = max(dates)
    source = "commit" if latest == inputs.last_commit else "PyPI release"
    quarters = full_quarters(latest, now)
    points = -int(quarters * stars / 10)
    if quarters == 0:
        why = f"The last {source} ({latest:%Y-%m-%d}) is less than three months old: no penalty."
    else:
        why = (
            f"The last activity was a {source} on {latest:%Y-%m-%d}, {quarters} "
            f"full quarter{'s' if quarters != 1 else ''} ago; each costs a tenth "
            f"of the stars ({stars / 10:g})."
        )
    return Component("inactivity", {**values, "quarters": quarters}, points, why)


def _python3(python3: bool | None, stars: int) -> Component:
    values: dict[str, object] = {"python3": python3, "repo_watchers": stars}
    if python3 is False:
        points = -int(min(stars * PYTHON3_SHARE, PYTHON3_CAP))
        return Component(
            "python3",
            values,
            points,
            "PyPI says the project does not support Python 3: 30% of the stars, "
            f"at most {PYTHON3_CAP}, are taken off ({-points}).",
        )
    why = (
        "PyPI says the project supports Python 3: no penalty."
        if python3
        else "Python 3 support is not known (no PyPI metadata says): no penalty."
    )
    return Component("python3", values, 0, why)
