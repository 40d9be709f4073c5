"""Readiness: the readiness file (errors as file:line:column), the pure assessment of items and
live facts, and the whole command against a real Prometheus and a real database."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session

from takeover import store
from takeover.rules.format import Rule
from takeover.server.settings import Settings
from takeover.store.models import TokenRow
from takeover.tools import readiness
from takeover.tools.promproc import free_port
from takeover.tools.readiness import (
    ITEM_WARNINGS,
    REQUIRED_ITEMS,
    Facts,
    Item,
    Status,
    active_operators,
    assess,
    metric_names,
    parse_readiness,
    report_json,
    run_readiness,
)
from tests.conftest import ROOT, takeover_cli

NOW = 1_700_000_000.0
OWNED = {"owner": "agents-oncall"}
RUNBOOK = {"runbook_url": "https://runbooks.example.com/x", "first_check": "look at the traces"}


def rule(name: str, expr: str, **labels: str) -> Rule:
    return Rule(name=name, expr=expr, labels={**OWNED, **labels}, annotations=RUNBOOK, file="r.yml", line=3)


RULES = (
    rule("AgentErrorRateHigh", 'rate(agent_requests_total{outcome="error"}[1m]) > 0.1', takeover="read_only"),
    rule("AgentSlow", "rate(agent_timeouts_total[5m]) > 0.05"),
    rule("AgentSpend", "rate(agent_cost_dollars_total[10m]) * 3600 > 1", takeover="pause_writes"),
)
READY = Facts(rules=RULES, operators=("alice",), slack_signing_secret=True, slack_token=True, slack_users=2,
              audit_checked=7, prometheus_url="http://prom:9090")


def done(name: str) -> Item:
    return Item(item=name, owner="team", status=Status.done, evidence="see the wiki")


ALL_DONE = [done(name) for name in ITEM_WARNINGS]


def with_item(item: str, status: Status) -> list[Item]:
    return [replace(i, status=status, next_action="do it") if i.item == item else i for i in ALL_DONE]


def errors(text_: str) -> list[str]:
    return [str(e) for e in parse_readiness(text_, filename="readiness.yml")[1]]


# --- the readiness file -------------------------------------------------------------------

def test_the_example_file_lists_every_item_and_is_valid() -> None:
    items, errs = parse_readiness((ROOT / "readiness.yml").read_text(), filename="readiness.yml")
    assert errs == []
    assert [i.item for i in items] == list(ITEM_WARNINGS)
    assert all(i.owner and (i.evidence or i.status is Status.missing) for i in items)


def test_the_example_is_ready_when_the_live_checks_pass_and_only_warns_about_rate_limits() -> None:
    report = assess(readiness.load_readiness(ROOT / "readiness.yml"), READY)
    assert report.ready
    assert report.warnings == ["missing_rate_limit"]


def test_unknown_fields_and_bad_statuses_are_reported_with_file_line_and_column() -> None:
    bad = """\
- item: tracing
  owner: agents-oncall
  status: done
  evidence: traces in Tempo
  notes: ask Bob
- item: rollback
  owner: agents-oncall
  status: almost
  next_action: write it down
"""
    assert errors(bad) == [
        "readiness.yml:5:3: unknown field notes in item (allowed: item, owner, status, evidence, next_action)",
        'readiness.yml:8:11: item "rollback": status must be one of done, partial, missing; got "almost"',
    ]


@pytest.mark.parametrize(("text_", "message"), [
    ("tracing: done\n", "readiness.yml:1:1: the readiness file must be a list of items"),
    ("", "readiness.yml:1:1: the readiness file must be a list of items"),
    ("- item: [tracing\n", "readiness.yml:2:1: invalid YAML"),
    ("- just a string\n", "readiness.yml:1:3: an item must be a mapping"),
    ("- owner: me\n  status: done\n  evidence: x\n", "readiness.yml:1:3: item is required"),
    ("- item: Rate Limits\n  owner: me\n  status: missing\n  next_action: x\n",
     'readiness.yml:1:9: item "Rate Limits" must be lower_snake_case'),
    ("- item: tools\n  status: done\n  evidence: x\n", 'readiness.yml:1:3: item "tools": owner is required'),
    ("- item: tools\n  owner: me\n  evidence: x\n", 'readiness.yml:1:3: item "tools": status must be one of'),
    ("- item: tools\n  owner: me\n  status: done\n", 'readiness.yml:1:3: item "tools": evidence is required'),
    ("- item: tools\n  owner: me\n  status: partial\n  evidence: x\n",
     'readiness.yml:1:3: item "tools": next_action is required when status is partial'),
    ("- item: tools\n  owner: me\n  status: done\n  evidence: [a, b]\n", "readiness.yml:4:13: evidence must be a string"),
    ("- {item: tools, owner: me, status: done, evidence: x}\n- {item: tools, owner: you, status: done, evidence: y}\n",
     'readiness.yml:2:3: item "tools" is listed twice (first at line 1)'),
])
def test_every_bad_readiness_file_gets_a_clear_error(text_: str, message: str) -> None:
    found = errors(text_)
    assert len(found) == 1 and found[0].startswith(message), found


def test_a_missing_item_needs_no_evidence_and_other_items_are_allowed() -> None:
    items, errs = parse_readiness(
        "- {item: load_testing, owner: sre, status: missing, next_action: run k6}\n", filename="r.yml")
    assert errs == [] and items == [Item("load_testing", "sre", Status.missing, "", "run k6", line=1)]


# --- the assessment: items ----------------------------------------------------------------

def test_everything_in_place_is_ready_with_no_warnings() -> None:
    report = assess(ALL_DONE, READY)
    assert (report.ready, report.warnings) == (True, [])
    assert all(c.ok for c in report.checks)


@pytest.mark.parametrize("item", REQUIRED_ITEMS)
def test_a_required_item_that_is_missing_blocks(item: str) -> None:
    report = assess(with_item(item, Status.missing), READY)
    assert not report.ready
    assert report.blocking == [ITEM_WARNINGS[item]]


def test_missing_rate_limits_only_warn() -> None:
    report = assess(with_item("rate_limits", Status.missing), READY)
    assert report.ready
    assert report.warnings == ["missing_rate_limit"] and report.blocking == []


def test_a_partial_item_is_shown_but_raises_no_warning() -> None:
    report = assess(with_item("tracing", Status.partial), READY)
    assert report.ready and report.warnings == []
    assert [i.status for i in report.items if i.item == "tracing"] == [Status.partial]


def test_a_required_item_left_out_of_the_file_counts_as_missing() -> None:
    report = assess([i for i in ALL_DONE if i.item not in ("rollback", "rate_limits")], READY)
    assert report.blocking == ["missing_rollback"]
    assert report.warnings == ["missing_rollback", "missing_rate_limit"]
    assert report.items[-2:][0].item == "rollback" and report.items[-1].status is Status.missing


def test_a_missing_item_of_the_teams_own_only_warns() -> None:
    own = Item("load_testing", "sre", Status.missing, next_action="run k6")
    report = assess([*ALL_DONE, own], READY)
    assert report.ready and report.warnings == ["missing_load_testing"]


# --- the assessment: live checks ----------------------------------------------------------

def test_a_rule_file_that_fails_to_load_is_a_blocking_check_with_its_errors() -> None:
    report = assess(ALL_DONE, replace(READY, rule_errors=('rules/x.yml:4:9: alert "A": label "owner" is required',)))
    (check,) = [c for c in report.checks if c.name == "rules"]
    assert not check.ok and 'rules/x.yml:4:9: alert "A": label "owner" is required' in check.detail
    assert not report.ready and "invalid_rules" in report.blocking


def test_a_rule_without_a_runbook_is_caught_even_if_it_was_loaded() -> None:
    bare = Rule(name="NoRunbook", expr="up == 0", labels=OWNED, annotations={"first_check": "x"}, file="r.yml", line=9)
    report = assess(ALL_DONE, replace(READY, rules=(*RULES, bare)))
    assert report.blocking == ["invalid_rules"]
    assert "NoRunbook (r.yml:9) has no annotation runbook_url" in report.checks[0].detail


@pytest.mark.parametrize(("signal", "keep"), [("timeout", (0, 2)), ("error", (1, 2)), ("cost", (0, 1))])
def test_a_missing_signal_rule_warns_without_blocking(signal: str, keep: tuple[int, int]) -> None:
    rules = tuple(RULES[i] for i in keep)
    report = assess(ALL_DONE, replace(READY, rules=rules))
    assert report.ready
    assert report.warnings == [f"missing_{signal}_rule"]


def test_the_signal_heuristic_reads_alert_and_metric_names_not_label_values() -> None:
    assert metric_names('sum by (error_kind) (rate(job:req:rate5m{outcome="timeout"}[5m] offset 1h)) > bool 1e3') \
        == {"job:req:rate5m"}
    by_label_value = rule("AgentSlow", 'rate(agent_requests_total{outcome="timeout"}[5m]) > 0.05', takeover="read_only")
    report = assess(ALL_DONE, replace(READY, rules=(by_label_value,)))
    assert report.warnings == ["missing_timeout_rule", "missing_error_rule", "missing_cost_rule"]
    by_name = rule("agentTIMEOUTs", "up == 0", takeover="read_only")
    assert "missing_timeout_rule" not in assess(ALL_DONE, replace(READY, rules=(by_name,))).warnings


def test_the_repos_rules_cover_every_signal_and_can_take_over() -> None:
    from takeover.rules.format import load_rules

    rules = tuple(r for g in load_rules([ROOT / "rules"]) for r in g.rules)
    report = assess(ALL_DONE, replace(READY, rules=rules))
    assert report.ready and report.warnings == []


def test_no_rule_that_takes_over_blocks() -> None:
    notify_only = tuple(replace(r, labels=OWNED) for r in RULES)
    report = assess(ALL_DONE, replace(READY, rules=notify_only))
    assert report.blocking == ["missing_takeover_rule"]


@pytest.mark.parametrize(("change", "said"), [
    ({"operators": ()}, "no active operator or admin token"),
    ({"slack_signing_secret": False}, "TAKEOVER_SLACK_SIGNING_SECRET unset"),
    ({"slack_token": False}, "TAKEOVER_SLACK_TOKEN unset"),
    ({"slack_users": 0}, "no slack_users in the routing file"),
    ({"routing_errors": ("routing.yml:3:5: unknown field chanel",)}, "routing file: routing.yml:3:5"),
])
def test_human_override_needs_an_operator_and_slack_interactivity(change: dict[str, object], said: str) -> None:
    report = assess(ALL_DONE, replace(READY, **change))  # type: ignore[arg-type]
    (check,) = [c for c in report.checks if c.name == "human_override"]
    assert not check.ok and said in check.detail
    assert report.blocking == ["missing_human_override"]


def test_only_active_operator_and_admin_tokens_count() -> None:
    def token(name: str, role: str, *, revoked_at: float | None = None, expires_at: float | None = None) -> TokenRow:
        return TokenRow(name=name, role=role, agents=[], token_hash=name, created_at=0.0,
                        revoked_at=revoked_at, expires_at=expires_at)

    tokens = [token("bot", "agent"), token("gone", "operator", revoked_at=NOW - 1),
              token("old", "operator", expires_at=NOW), token("alice", "operator", expires_at=NOW + 60),
              token("root", "admin")]
    assert active_operators(tokens, now=NOW) == ("alice", "root")


def test_a_broken_audit_chain_blocks() -> None:
    report = assess(ALL_DONE, replace(READY, audit_checked=2, audit_broken="row 3 (token.create by cli:x at 1.0)"))
    assert report.blocking == ["audit_chain_broken"]
    assert "row 3" in report.checks[-2].detail


def test_an_unreadable_database_blocks_and_leaves_tokens_unknown() -> None:
    report = assess(ALL_DONE, replace(READY, operators=(), database_error="cannot open postgresql://db"))
    assert report.blocking == ["missing_human_override", "database_unreachable"]


def test_an_unreachable_prometheus_blocks() -> None:
    report = assess(ALL_DONE, replace(READY, prometheus_error="GET /-/ready failed: ConnectError"))
    assert report.blocking == ["prometheus_unreachable"]


def test_the_json_report_has_ready_checks_items_and_warnings() -> None:
    doc = report_json(assess(with_item("rate_limits", Status.missing), replace(READY, slack_token=False)))
    assert doc["ready"] is False
    assert (doc["warnings"], doc["blocking"]) == (["missing_human_override", "missing_rate_limit"],
                                                  ["missing_human_override"])
    assert {c["name"] for c in doc["checks"]} == {"rules", "timeout_rule", "error_rule", "cost_rule",
                                                  "takeover_rule", "human_override", "audit_chain", "prometheus"}
    assert [i["item"] for i in doc["items"]] == list(ITEM_WARNINGS)
    json.dumps(doc)


# --- the whole command: real Prometheus, real database ------------------------------------

def make_database(url: str, *, operator: bool) -> None:
    """A database with an agent token and a revoked operator token, plus an active one if asked."""
    engine = store.make_engine(url, migrate=True)
    with Session(engine) as session:
        store.create_token(session=session, name="refund-bot", role="agent", agents=["refund-bot"],
                           token="t-agent", now=NOW, actor="cli:test")
        gone = store.create_token(session=session, name="bob", role="operator", agents=[], token="t-bob",
                                  now=NOW, actor="cli:test")
        store.revoke_token(session=session, token_id=gone.id or 0, actor="cli:test", now=NOW + 1)
        if operator:
            store.create_token(session=session, name="alice", role="operator", agents=[], token="t-alice",
                               now=NOW, actor="cli:test")
        session.commit()
    engine.dispose()


@pytest.fixture
def live_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TAKEOVER_* for a fully configured deployment, except the database and Prometheus URLs."""
    routing = tmp_path / "routing.yml"
    routing.write_text("slack_users:\n  U024BE7LH: alice\n")
    for name, value in {"TAKEOVER_RULES": str(ROOT / "rules"), "TAKEOVER_ROUTING": str(routing),
                        "TAKEOVER_SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
                        "TAKEOVER_SLACK_TOKEN": "xoxb-test"}.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str, path: Path = ROOT / "readiness.yml") -> tuple[int, str, str]:
    code = run_readiness(path, settings=Settings(), as_json="--json" in args, now=NOW + 10)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.prometheus
def test_ready_when_everything_is_configured(prometheus: str, live_env: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{live_env / 'takeover.db'}"
    make_database(url, operator=True)
    monkeypatch.setenv("TAKEOVER_DATABASE_URL", url)
    monkeypatch.setenv("TAKEOVER_PROMETHEUS_URL", prometheus)
    code, out, _ = run(capsys)
    assert code == 0, out
    assert out.splitlines()[-2:] == ["warning: missing_rate_limit", "ready: true"]
    assert "check: human_override" in out and "operators: alice;" in out
    code, out, _ = run(capsys, "--json")
    doc = json.loads(out)
    assert (code, doc["ready"], doc["warnings"]) == (0, True, ["missing_rate_limit"])
    assert [c["detail"] for c in doc["checks"] if c["name"] == "audit_chain"] == ["4 rows verify"]


@pytest.mark.prometheus
def test_not_ready_names_what_is_missing(prometheus: str, live_env: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{live_env / 'takeover.db'}"
    make_database(url, operator=False)  # only an agent token and a revoked operator
    monkeypatch.setenv("TAKEOVER_DATABASE_URL", url)
    monkeypatch.setenv("TAKEOVER_PROMETHEUS_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens
    monkeypatch.delenv("TAKEOVER_SLACK_SIGNING_SECRET")
    code, out, _ = run(capsys)
    assert code == 1
    assert out.splitlines()[-4:] == ["warning: missing_human_override (blocks readiness)",
                                     "warning: prometheus_unreachable (blocks readiness)",
                                     "warning: missing_rate_limit", "ready: false"]
    code, out, _ = run(capsys, "--json")
    doc = json.loads(out)
    assert (code, doc["ready"], doc["blocking"]) == (1, False, ["missing_human_override", "prometheus_unreachable"])
    (override,) = [c for c in doc["checks"] if c["name"] == "human_override"]
    assert override["detail"] == ("no active operator or admin token; "
                                  "TAKEOVER_SLACK_SIGNING_SECRET unset: Slack buttons are refused")


@pytest.mark.prometheus
def test_a_tampered_audit_row_makes_it_not_ready(prometheus: str, live_env: Path, database_url: str,
                                                 capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    make_database(database_url, operator=True)
    monkeypatch.setenv("TAKEOVER_DATABASE_URL", database_url)
    monkeypatch.setenv("TAKEOVER_PROMETHEUS_URL", prometheus)
    assert json.loads(run(capsys, "--json")[1])["ready"] is True
    engine = create_engine(database_url)
    with engine.begin() as conn:
        target = conn.execute(text("SELECT min(id) FROM audit WHERE action = 'token.revoke'")).scalar_one()
        conn.execute(text("UPDATE audit SET actor = 'operator:mallory' WHERE id = :id"), {"id": target})
    engine.dispose()
    code, out, _ = run(capsys, "--json")
    doc = json.loads(out)
    assert (code, doc["ready"], doc["blocking"]) == (1, False, ["audit_chain_broken"])
    (audit,) = [c for c in doc["checks"] if c["name"] == "audit_chain"]
    assert audit["detail"].startswith(f"broken at row {target} (token.revoke by operator:mallory")


def test_no_database_yet_is_reported_not_created(live_env: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    db = live_env / "nothing-here.db"
    monkeypatch.setenv("TAKEOVER_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("TAKEOVER_PROMETHEUS_URL", f"http://127.0.0.1:{free_port()}")
    code, out, _ = run(capsys, "--json")
    doc = json.loads(out)
    assert code == 1 and "database_unreachable" in doc["blocking"]
    assert not db.exists()


def test_a_bad_readiness_file_exits_2_with_file_line_column(live_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = live_env / "readiness.yml"
    bad.write_text("- item: tracing\n  owner: me\n  status: sorta\n  evidence: x\n  next_action: y\n")
    code, out, err = run(capsys, path=bad)
    assert (code, out) == (2, "")
    assert f'{bad}:3:11: item "tracing": status must be one of done, partial, missing; got "sorta"' in err
    code, _, err = run(capsys, path=live_env / "absent.yml")
    assert code == 2 and f"{live_env / 'absent.yml'}:1:1: cannot read readiness file" in err


def test_the_cli_command_once_wired(live_env: Path) -> None:
    if "readiness" not in takeover_cli("--help", env={}).stdout:
        pytest.skip("takeover readiness is not wired into takeover/cli.py yet")
    bad = live_env / "readiness.yml"
    bad.write_text("- item: tracing\n  owner: me\n  status: done\n  evidence: x\n  notes: y\n")
    result = takeover_cli("readiness", "--json", "--file", str(bad), env={})
    assert result.returncode == 2
    assert f"{bad}:5:3: unknown field notes in item" in result.stderr
