"""`takeover test rules`: promtool's unit-test format (testfile, series), the inputs served from a TSDB
(tsdb), each group run and checked (run), promtool's text (gotext) and report (command).

Each test group's input series, up to its last `eval_time` (queries only look back, so a series
written as ten million samples costs what is read of it), are backfilled into a throwaway TSDB
(`promtool tsdb create-blocks-from openmetrics`), a Prometheus is started on it, and takeover's replay core steps
every group from time 0 (the Unix epoch, as in promtool) every `evaluation_interval`, querying
that Prometheus. The firing alerts at the last evaluation at or before each `eval_time` are
compared with `exp_alerts` exactly as promtool 2.42 does (cmd/promtool/unittest.go), and the
report has promtool's shape. What takeover cannot run (`promql_expr_test`, `stale` inputs) is
reported as UNSUPPORTED, which fails the run: a check that was not made never passes.
"""

from takeover.tools.ruletest.command import run_test_file, run_test_files
from takeover.tools.ruletest.gotext import (
    AlertPair,
    alerts_string,
    go_duration,
    go_quote,
    labels_string,
    model_duration,
)
from takeover.tools.ruletest.run import QUERY_TIMEOUT, Outcome, check_alerts, run_test_group
from takeover.tools.ruletest.series import Point, parse_series, parse_values, values_read
from takeover.tools.ruletest.testfile import (
    DEFAULT_EVALUATION_INTERVAL,
    AlertCheck,
    ExpectedAlert,
    InputSeries,
    TestFile,
    TestFileError,
    TestGroup,
    load_test_file,
)
from takeover.tools.ruletest.tsdb import PROMETHEUS_ARGS, backfill, openmetrics, serving

__all__ = [
    "DEFAULT_EVALUATION_INTERVAL", "PROMETHEUS_ARGS", "QUERY_TIMEOUT", "AlertCheck", "AlertPair",
    "ExpectedAlert", "InputSeries", "Outcome", "Point", "TestFile", "TestFileError", "TestGroup",
    "alerts_string", "backfill", "check_alerts", "go_duration", "go_quote", "labels_string",
    "load_test_file", "model_duration", "openmetrics", "parse_series", "parse_values",
    "run_test_file", "run_test_files", "run_test_group", "serving", "values_read",
]
