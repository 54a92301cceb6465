"""The score rule (app.packages.score), as a pure function of its inputs."""

from datetime import UTC, datetime

import pytest

from app.packages.score import ScoreInputs, compute_score, full_quarters

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def points(**values: object) -> dict[str, int]:
    inputs = ScoreInputs(
        stars=values.get("stars", 0),  # type: ignore[arg-type]
        last_commit=values.get("last_commit"),  # type: ignore[arg-type]
        last_release=values.get("last_release"),  # type: ignore[arg-type]
        python3=values.get("python3"),  # type: ignore[arg-type]
    )
    score = compute_score(inputs, NOW)
    return {"total": score.total} | {c.name: c.points for c in score.components}


@pytest.mark.parametrize(
    ("since", "quarters"),
    [
        (datetime(2026, 12, 4, 12, 0, tzinfo=UTC), 0),
        (datetime(2026, 9, 4, 12, 0, tzinfo=UTC), 1),  # exactly three months
        (datetime(2026, 9, 4, 12, 1, tzinfo=UTC), 0),  # a minute short of them
        (datetime(2026, 9, 5, tzinfo=UTC), 0),
        (datetime(2026, 6, 3, tzinfo=UTC), 2),
        (datetime(2024, 12, 3, tzinfo=UTC), 8),
        (datetime(2016, 12, 31, tzinfo=UTC), 39),
        (datetime(2027, 1, 1, tzinfo=UTC), 0),  # in the future: no penalty
    ],
)
def test_quarters_are_whole_three_month_periods(since: datetime, quarters: int) -> None:
    assert full_quarters(since, NOW) == quarters


def test_django_packages_rule_stars_less_a_tenth_per_quarter() -> None:
    assert points(
        stars=1000, last_commit=datetime(2026, 5, 1, tzinfo=UTC), python3=True
    ) == {"total": 800, "stars": 1000, "inactivity": -200, "python3": 0, "floor": 0}


def test_no_python_3_costs_30_percent_at_most_1000() -> None:
    old = datetime(2026, 11, 1, tzinfo=UTC)
    assert points(stars=1000, last_commit=old, python3=False)["python3"] == -300
    assert points(stars=5000, last_commit=old, python3=False)["python3"] == -1000
    # Not knowing is no penalty (Django Packages takes it for "no").
    assert points(stars=1000, last_commit=old, python3=None)["python3"] == 0


def test_a_recent_release_counts_as_activity() -> None:
    quiet_repository = datetime(2023, 11, 1, tzinfo=UTC)  # 12 quarters ago
    release = datetime(2026, 10, 20, tzinfo=UTC)

    assert points(stars=1000, last_commit=quiet_repository)["inactivity"] == -1200
    assert points(stars=1000, last_commit=quiet_repository, last_release=release) == {
        "total": 1000,
        "stars": 1000,
        "inactivity": 0,
        "python3": 0,
        "floor": 0,
    }


def test_no_date_at_all_costs_one_quarter() -> None:
    assert points(stars=1234)["inactivity"] == -123


def test_the_score_never_falls_below_minus_500() -> None:
    ten_years = datetime(2016, 11, 1, tzinfo=UTC)  # 40 quarters
    assert points(stars=200, last_commit=ten_years, python3=False) == {
        "total": -500,
        "stars": 200,
        "inactivity": -800,
        "python3": -60,
        "floor": 160,
    }
    assert points(stars=100, last_commit=ten_years, python3=False)["total"] == -330


def test_every_component_says_why() -> None:
    score = compute_score(
        ScoreInputs(
            stars=450,
            last_commit=datetime(2026, 1, 15, tzinfo=UTC),
            last_release=datetime(2025, 3, 1, tzinfo=UTC),
            python3=True,
        ),
        NOW,
    )

    assert [(c.name, c.points, c.why) for c in score.components] == [
        ("stars", 450, "The repository has 450 stars; every star is a point."),
        (
            "inactivity",
            -135,
            "The last activity was a commit on 2026-01-15, 3 full quarters ago; "
            "each costs a tenth of the stars (45).",
        ),
        ("python3", 0, "PyPI says the project supports Python 3: no penalty."),
        ("floor", 0, "The score is above the floor of -500, so nothing is added."),
    ]
    assert score.total == 315
