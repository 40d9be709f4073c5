"""The input series in a throwaway TSDB: OpenMetrics text, promtool's backfill, a Prometheus serving
it that takes recorded series and staleness markers by remote write."""

from __future__ import annotations

import math
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from takeover.tools.promproc import binary, running_prometheus
from takeover.tools.ruletest.gotext import model_duration
from takeover.tools.ruletest.remotewrite import write
from takeover.tools.ruletest.testfile import InputSeries, TestFileError

# Prometheus deletes blocks older than retention relative to the *newest* block: keep them all
PROMETHEUS_ARGS = ("--storage.tsdb.retention.time=100y",)
SENTINEL = "takeover_ruletest_head_end"


def openmetrics(series: Sequence[InputSeries], *, interval: float, start: float = 0.0) -> str:
    """The series as OpenMetrics text, sample i at `start + i * interval` (seconds since the
    epoch), `# EOF` last. With interval 0 every sample lands on `start`: the first one wins there
    (as in promtool)."""
    lines = []
    step_ms, start_ms = round(interval * 1000), round(start * 1000)
    for s in series:
        if "__name__" not in s.labels:
            raise TestFileError(f"series {s.text} has no metric name: OpenMetrics cannot hold it")
        rest = ",".join(f'{k}="{_om_escape(v)}"' for k, v in sorted(s.labels.items()) if k != "__name__")
        head = s.labels["__name__"] + (f"{{{rest}}}" if rest else "")
        seen: set[int] = set()
        for i, value in enumerate(s.values):
            ms = start_ms + i * step_ms
            if value is None or ms in seen:
                continue
            if value == "stale":
                raise TestFileError(f"series {s.text}: stale markers cannot be backfilled")
            seen.add(ms)
            lines.append(f"{head} {_om_value(value)} {ms // 1000}.{ms % 1000:03d}")
    return "\n".join([*lines, "# EOF"]) + "\n"


def _om_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _om_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def backfill(text: str, *, data_dir: Path) -> None:
    """Write OpenMetrics `text` into TSDB blocks under `data_dir` with promtool."""
    source = data_dir.parent / f"{data_dir.name}.om"
    source.write_text(text)
    result = subprocess.run([binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", "-q",
                             str(source), str(data_dir)], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"promtool tsdb create-blocks-from openmetrics failed: {result.stderr.strip()}")


@contextmanager
def tsdb(text: str) -> Iterator[Path]:
    """A throwaway TSDB holding the OpenMetrics `text`; yields its data directory."""
    with tempfile.TemporaryDirectory(prefix="takeover-backfill-") as tmp:
        data = Path(tmp) / "data"
        backfill(text, data_dir=data)
        yield data


@contextmanager
def serving(text: str) -> Iterator[str]:
    """A throwaway Prometheus serving the OpenMetrics `text`; yields its URL."""
    with tsdb(text) as data, running_prometheus("global: {}\n", data_dir=data, extra_args=PROMETHEUS_ARGS) as url:
        yield url


@contextmanager
def writable_prometheus(data_dir: Path, *, evaluation_interval: float, until: float) -> Iterator[str]:
    """A throwaway Prometheus serving the TSDB at `data_dir`; yields its URL. It takes remote
    writes (recorded series, staleness markers) at or before `until` seconds: out of order, since
    the blocks hold later inputs, once a sentinel sample just after `until` has set where its head
    ends (no query at or before `until` sees it). Its evaluation_interval is the subquery step when
    none is written, as promtool's is the test's."""
    config = (f"global:\n  evaluation_interval: {model_duration(evaluation_interval)}\n"
              f"storage:\n  tsdb:\n    out_of_order_time_window: {math.ceil(until) + 3600}s\n")
    args = (*PROMETHEUS_ARGS, "--web.enable-remote-write-receiver")
    with running_prometheus(config, data_dir=data_dir, extra_args=args) as url:
        write(url, [((("__name__", SENTINEL),), [(round(until * 1000) + 1, 0.0)])])
        yield url
