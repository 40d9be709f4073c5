"""`takeover test rules`: promtool's unit-test format (testfile, series), the inputs served from a TSDB
(tsdb, queries, remotewrite), recording rules (record), each group run and checked (run, promql),
promtool's text (gotext) and report (command).

Each test group's input series, up to its last `eval_time` (queries only look back, so a series
written as ten million samples costs what is read of it), are backfilled into a throwaway TSDB
(`promtool tsdb create-blocks-from openmetrics`) and a Prometheus is started on it. Recording rules
are evaluated as promtool does, with one range query each over every `evaluation_interval` step
from time 0 (the Unix epoch, as in promtool); their series, with a staleness marker where one
ends, are written into that Prometheus by remote write (remotewrite) layer by layer, so a rule
reading another's sees it. takeover's replay core then steps every group's alerting rules from 0,
querying that Prometheus. The firing alerts at the last evaluation at or before each
`eval_time` are compared with `exp_alerts`, and each `promql_expr_test` with its `exp_samples`,
exactly as promtool 2.42 does (cmd/promtool/unittest.go), and the report has promtool's shape.
Rule files are read as Prometheus reads them: a rule lacking takeover's conventions (owner,
runbook_url, first_check) is tested, with a warning on stderr (`strict`: it fails the file).

What takeover cannot run is reported as UNSUPPORTED, which fails the run (a check that was not
made never passes): `stale` inputs; a rule reading what is recorded after it, or by itself.
"""

from takeover.tools.ruletest.command import run_test_file, run_test_files
from takeover.tools.ruletest.gotext import (
    AlertPair,
    alerts_string,
    go_duration,
    go_float_e,
    go_quote,
    labels_string,
    model_duration,
)
from takeover.tools.ruletest.promql import check_promql
from takeover.tools.ruletest.queries import QUERY_TIMEOUT, api_error, instant_query, range_query
from takeover.tools.ruletest.record import (
    Failure,
    Placed,
    Recorded,
    evaluation_order,
    layers,
    reads,
    record,
    unordered_read,
    written,
)
from takeover.tools.ruletest.run import Outcome, check_alerts, run_test_group
from takeover.tools.ruletest.series import Point, parse_metric, parse_series, parse_values, values_read
from takeover.tools.ruletest.testfile import (
    DEFAULT_EVALUATION_INTERVAL,
    AlertCheck,
    ExpectedAlert,
    ExpectedSample,
    InputSeries,
    PromqlCheck,
    TestFile,
    TestFileError,
    TestGroup,
    load_test_file,
)
from takeover.tools.ruletest.tsdb import PROMETHEUS_ARGS, backfill, openmetrics, serving, tsdb, writable_prometheus

__all__ = [
    "DEFAULT_EVALUATION_INTERVAL", "PROMETHEUS_ARGS", "QUERY_TIMEOUT", "AlertCheck", "AlertPair",
    "ExpectedAlert", "ExpectedSample", "Failure", "InputSeries", "Outcome", "Placed", "Point",
    "PromqlCheck", "Recorded", "TestFile", "TestFileError", "TestGroup", "alerts_string", "api_error",
    "backfill", "check_alerts", "check_promql", "evaluation_order", "go_duration", "go_float_e",
    "go_quote", "instant_query", "labels_string", "layers", "load_test_file", "model_duration",
    "openmetrics", "parse_metric", "parse_series", "parse_values", "range_query", "reads", "record",
    "run_test_file", "run_test_files", "run_test_group", "serving", "tsdb", "unordered_read",
    "values_read", "writable_prometheus", "written",
]
