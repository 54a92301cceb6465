"""app.strict_json: faults found, located, and in which order."""

from app import strict_json


def nested(levels: int, inner: str = "1") -> str:
    return '{"a": ' * (levels - 1) + "[" + inner + "]" + "}" * (levels - 1)


def test_nesting_past_the_limit_is_a_fault_located_where_it_starts() -> None:
    at_limit = strict_json.loads(nested(3))
    past = strict_json.loads(nested(4))

    assert strict_json.first_fault(at_limit, max_depth=3) is None
    assert strict_json.first_fault(past, max_depth=3) == strict_json.Fault(
        ["a", "a", "a"], "nests arrays and objects deeper than 3 levels", "too_deep"
    )
    assert strict_json.first_fault(past) is None


def test_a_key_twice_is_reported_before_nesting_too_deep() -> None:
    document = strict_json.loads('{"deep": ' + nested(4) + ', "x": 1, "x": 2}')

    assert strict_json.first_fault(document, max_depth=3) == strict_json.Fault(
        ["x"], "key appears twice", "duplicate_key"
    )
