"""bench/serving.py reads wrk's printed report: figures, units and errors."""

import importlib.util
import math
from pathlib import Path

import pytest

# Loaded from its file, so that bench/ never goes on sys.path for other tests.
_PATH = Path(__file__).resolve().parents[2] / "bench" / "serving.py"
_SPEC = importlib.util.spec_from_file_location("bench_serving", _PATH)
assert _SPEC and _SPEC.loader
serving = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(serving)
parse_wrk = serving.parse_wrk

REPORT = """\
Running 15s test @ http://127.0.0.1:8123/api/v4/packages/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.81ms    4.59ms   1.20s    90.88%
    Req/Sec     1.25k   379.27     1.81k    70.00%
  Latency Distribution
     50%  687.00us
     75%    2.81ms
     90%    7.05ms
     99%    1.02s
  18717 requests in 15.01s, 9.28MB read
  Socket errors: connect 0, read 3, write 0, timeout 12
  Non-2xx or 3xx responses: 40
Requests/sec:   1247.04
Transfer/sec:    633.42KB
status patch 200 1800
"""


def test_figures_units_and_errors():
    result = parse_wrk(REPORT)

    assert result.requests == 18717
    assert result.seconds == pytest.approx(15.01)
    assert result.rps == pytest.approx(1247.04)
    assert result.p50_ms == pytest.approx(0.687)
    assert result.p99_ms == pytest.approx(1020.0)
    assert result.non_2xx_3xx == 40
    assert result.socket_errors == {"connect": 0, "read": 3, "write": 0, "timeout": 12}
    assert result.errors == 55


def test_a_clean_run_has_no_errors():
    clean = "\n".join(
        line
        for line in REPORT.splitlines()
        if not line.startswith(("  Socket errors", "  Non-2xx"))
    )

    result = parse_wrk(clean)

    assert (result.non_2xx_3xx, result.socket_errors, result.errors) == (0, {}, 0)


def test_missing_percentiles_are_nan():
    without = REPORT.replace("     50%  687.00us\n", "")

    assert math.isnan(parse_wrk(without).p50_ms)


def test_not_a_report():
    with pytest.raises(ValueError, match="not a wrk report"):
        parse_wrk("unable to connect to 127.0.0.1:8123 Connection refused\n")
