"""One group's queries: the rules that can share a query are asked in one request, each row tagged
with its rule; a failed combined query falls back to one query per rule. Against a real
Prometheus: the answers equal the per-rule ones, and one broken rule fails only itself."""

from __future__ import annotations

import io
import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from takeover import store
from takeover.notify.slack import ConsoleNotifier
from takeover.rules.evaluate import Sample, State
from takeover.rules.format import Group, Rule, parse_rule_file
from takeover.rules.group import Answer, query_group
from takeover.rules.query import (
    RULE_LABEL,
    Combined,
    QueryError,
    QueryFunc,
    combinable,
    prometheus_query,
    static_query,
)
from takeover.server.service import Service
from takeover.server.settings import Settings
from tests.conftest import Exporter

ROOT = Path(__file__).resolve().parent.parent
MIX = 'takeover_test_value{case="group-mix"}'
BROKEN = 'takeover_test_value{case="group-broken"}'


def rule(expr: str, name: str = "R") -> Rule:
    return Rule(name=name, expr=expr, labels={"owner": "team"})


def group(*exprs: str) -> Group:
    return Group("g", "g.yml", 60.0, tuple(rule(e, f"R{i}") for i, e in enumerate(exprs)))


def recording(query: QueryFunc, asked: list[str]) -> QueryFunc:
    def ask(expr: str, ts: float) -> list[Sample]:
        asked.append(expr)
        return query(expr, ts)

    return ask


def comparable(answer: Answer) -> object:
    """An answer as a value: rows in order (NaN equal to NaN), or the error's text."""
    if isinstance(answer, QueryError):
        return ("error", str(answer))
    return [(sorted(s.labels.items()), repr(s.value)) for s in answer]


def scraped(prometheus: str, expr: str, count: int) -> float:
    """Wait until `count(expr)` is `count` and return a time by which that data is stored."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        result = httpx.get(f"{prometheus}/api/v1/query", params={"query": f"count({expr})"}).json()["data"]["result"]
        if result and int(float(result[0]["value"][1])) == count:
            time.sleep(1.5)  # a scrape in flight lands before the evaluation time chosen below
            return round(time.time() - 1.0, 3)
        time.sleep(0.2)
    raise AssertionError(f"Prometheus did not scrape {count} series of {expr}")


# ---------------------------------------------------------------- the combined query, pure

def test_a_combined_query_reads_back_as_its_parts_with_comments_and_scalars() -> None:
    parts = [(0, "x > 1"), (3, "1"), (4, "y  # a comment ends the line, not the query"), (9, "sum(z)")]
    combined = Combined.of(parts)
    assert Combined.parse(combined.expr) == parts
    assert 'label_replace(vector(\n1\n), "__takeover_rule", "3", "", "")' in combined.expr
    assert Combined.parse("x > 1") is None
    assert [combinable(e) for e in ("x", "1", "scalar(x)", "x[5m]", '"s"', "rate(x[5m])[5m:]", "x +")] == \
        ["vector", "scalar", "scalar", None, None, None, None]


def test_a_long_group_is_split_into_combined_queries_within_the_limit() -> None:
    parts = [(i, f"x{i} > 1") for i in range(12)] + [(12, "1")]
    batches = Combined.batches(parts, limit=300)
    assert len(batches) > 1 and all(len(b.expr) <= 300 for b in batches)
    assert [p for b in batches for p in Combined.parse(b.expr) or []] == parts
    assert [len(b.tags) for b in Combined.batches([(i, "x") for i in range(101)])] == [34, 34, 33]


def test_a_row_without_a_known_tag_fails_the_combined_answer() -> None:
    combined = Combined.of([(0, "a"), (1, "b")])
    rows = combined.split([Sample({"__name__": "a", RULE_LABEL: "1"}, 1.0)])
    assert rows == {0: [], 1: [Sample({"__name__": "a"}, 1.0)]}
    with pytest.raises(QueryError, match="without a known"):
        combined.split([Sample({"__name__": "a"}, 1.0)])


def test_the_static_query_answers_a_combined_query_and_fails_it_when_a_part_is_unknown() -> None:
    table = {"a": [Sample({"x": "1"}, 1.0)], "b": []}
    asked: list[str] = []
    answers = query_group(group("a", "b"), at=0.0, query=recording(static_query(table), asked))
    assert answers == [[Sample({"x": "1"}, 1.0)], []] and len(asked) == 1
    asked.clear()
    answers = query_group(group("a", "b", "c"), at=0.0, query=recording(static_query(table), asked))
    assert comparable(answers[2]) == ("error", "no result for 'c'")
    assert answers[:2] == [[Sample({"x": "1"}, 1.0)], []] and asked[1:] == ["a", "b", "c"]


# ---------------------------------------------------------------- against Prometheus

@pytest.mark.prometheus
def test_combined_answers_equal_the_per_rule_answers_for_varied_rules(prometheus: str, exporter: Exporter) -> None:
    for agent, value in {"a1": 0.2, "a2": 0.9, "a3": math.nan, "a4": math.inf, "a5": -math.inf}.items():
        exporter.set(value, case="group-mix", agent=agent)
    at = scraped(prometheus, MIX, 5)
    target = f'instance="{exporter.url}"'
    exprs = [
        MIX, f"{MIX} > 0.5", f"{MIX} * 2", f"-{MIX}", f"({MIX})", f"sort_desc({MIX})", f"{MIX} > bool 0.5",
        f"sum by (case) ({MIX})", f"count({MIX})", f"topk(2, {MIX})",
        f'label_replace({MIX}, "who", "$1", "agent", "(.*)")', f'label_join({MIX}, "both", "-", "case", "agent")',
        f"absent({MIX})", 'absent(takeover_test_value{case="group-none", agent="x"})',
        'takeover_test_value{case="group-none"}', f"{MIX} # a comment to the end of the line",
        "1", "-1.5", "1 > bool 2", 'scalar(takeover_test_value{case="group-mix", agent="a2"})',
        'scalar(takeover_test_value{case="group-none"})', "vector(3)", "time() - time() + 7",
        f'{{__name__=~"up|scrape_samples_scraped", {target}}}',  # one labelset once __name__ goes
        f"{MIX} + on(case) {MIX}",  # many-to-many: an error in either path
        f"{MIX}[1m]", '"a string"',  # not combinable: asked alone
        f"holt_winters({MIX}[1m], 0.5, 0.5)",  # promql_parser does not know it: asked alone
    ]
    asked: list[str] = []
    query = prometheus_query(prometheus, timeout=10.0)
    with ThreadPoolExecutor(4) as pool:
        per_rule = query_group(group(*exprs), at=at, query=query, mapper=pool.map, combine=False)
        batched = query_group(group(*[e for e in exprs if "on(case)" not in e]), at=at,
                              query=recording(query, asked), mapper=pool.map)
    expected = [comparable(a) for e, a in zip(exprs, per_rule) if "on(case)" not in e]
    assert [comparable(a) for a in batched] == expected
    assert sum(1 for a in asked if RULE_LABEL in a) == 1  # the combinable rules: one request
    assert sorted(a for a in asked if RULE_LABEL not in a) == sorted([f"{MIX}[1m]", '"a string"', exprs[-1]])
    assert "many-to-many matching not allowed" in str(per_rule[exprs.index(f"{MIX} + on(case) {MIX}")])
    names = {s.labels.get("__name__") for s in batched[0]}
    assert names == {"takeover_test_value"}  # label_replace and `or` keep the metric name
    assert comparable(batched[exprs.index("scalar(takeover_test_value{case=\"group-none\"})")]) == [([], "nan")]


RULES = """\
groups:
  - name: broken-among-good
    interval: 10s
    rules:
      - alert: Good
        expr: '{broken} > 0.5'
        labels: {{owner: team, severity: ticket}}
        annotations: {{summary: "{{{{ $labels.agent }}}} at {{{{ $value }}}}", runbook_url: r, first_check: c}}
      - alert: ManyToMany
        expr: '{broken} + on(case) {broken}'
        labels: {{owner: team}}
        annotations: {{runbook_url: r, first_check: c}}
      - alert: SameLabelset
        expr: 'label_replace({broken}, "agent", "same", "", "")'
        labels: {{owner: team}}
        annotations: {{runbook_url: r, first_check: c}}
      - alert: UnknownToPrometheus
        expr: 'sort_by_label({broken}, "agent")'
        labels: {{owner: team}}
        annotations: {{runbook_url: r, first_check: c}}
      - alert: SameAlertLabels
        expr: '{{__name__=~"up|scrape_samples_scraped", instance="{instance}"}}'
        labels: {{owner: team}}
        annotations: {{runbook_url: r, first_check: c}}
      - alert: Scalar
        expr: '1'
        labels: {{owner: team}}
        annotations: {{runbook_url: r, first_check: c}}
      - alert: Absent
        expr: 'absent(takeover_test_value{{case="group-broken", agent="nobody"}})'
        labels: {{owner: team}}
        annotations: {{runbook_url: r, first_check: c}}
"""


@pytest.mark.prometheus
def test_one_broken_rule_among_good_ones_is_err_alone_and_the_others_fire(
        prometheus: str, exporter: Exporter, tmp_path: Path) -> None:
    exporter.set(0.9, case="group-broken", agent="a1")
    exporter.set(0.1, case="group-broken", agent="a2")
    at = scraped(prometheus, BROKEN, 2)
    groups, errors = parse_rule_file(RULES.format(broken=BROKEN, instance=exporter.url), filename="broken.yml")
    assert errors == []
    asked: list[str] = []
    service = Service(Settings(database_url=f"sqlite:///{tmp_path / 'takeover.db'}",
                               templates=str(ROOT / "templates"), prometheus_url=prometheus),
                      groups=groups, notifier=ConsoleNotifier(io.StringIO()),
                      query=recording(prometheus_query(prometheus, timeout=10.0), asked))
    try:
        assert service.lead()
        service.evaluate_group(groups[0], now=at)
        health = {h.rule: h for h in service.health.values()}
        assert {name for name, h in health.items() if h.health == "err"} == {
            "ManyToMany", "SameLabelset", "UnknownToPrometheus", "SameAlertLabels"}
        assert "many-to-many matching not allowed" in health["ManyToMany"].last_error
        assert "vector cannot contain metrics with the same labelset" in health["SameLabelset"].last_error
        assert "parse error: unknown function with name" in health["UnknownToPrometheus"].last_error
        assert health["SameAlertLabels"].last_error == \
            "vector contains metrics with the same labelset after applying alert labels"
        with service.sessions() as session:
            stored = store.load_alerts(session=session, group_key=groups[0].key)
        firing = {(r.name, tuple(dict(labels).get("agent", "") for labels in stored.get(r.key, {})))
                  for r in groups[0].rules if all(a.state == State.firing for a in stored.get(r.key, {}).values())
                  and stored.get(r.key)}
        assert firing == {("Good", ("a1",)), ("Scalar", ("",)), ("Absent", ("nobody",))}
        good = next(iter(stored[groups[0].rules[0].key].values()))
        assert good.annotations["summary"] == "a1 at 0.9"
        assert RULE_LABEL in asked[0] and sorted(asked[1:]) == sorted(r.query for r in groups[0].rules)
    finally:
        service.stop()

