"""Releases end to end: real Prometheus, real `takeover serve`, the fake Slack and the SDK.

The test exporter's gauge stands in for the agent's metrics, one series per variant:
`takeover_test_value{case="<release case>-canary"}` and `…-stable` (the error ratio) and
`…-samples-canary` (the canary's traffic)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from takeover.sdk import Client
from tests.conftest import Exporter, Server, start_server, stop_server, takeover_cli
from tests.fakeslack import FakeSlack
from tests.test_e2e import poll
from tests.test_slack import SECRET, click, reject_in_slack, signed

pytestmark = pytest.mark.slow

RULES = """\
groups:
  - name: releases
    interval: 1s
    rules:
      - alert: CanaryRefundsSpike
        expr: takeover_test_value{case="rel-rollback-alert"} > 0
        labels: {owner: team-rel, takeover: rollback}
        annotations: {runbook_url: "https://runbooks.example.com/canary", first_check: "Compare the canary's refunds."}
"""
ROUTING = """\
group_wait: 0s
group_interval: 1s
owners:
  team-rel: {channel: "#releases"}
agents:
  "rel-*": team-rel
slack_users: {U_ALICE: alice}
"""


@pytest.fixture
def server(tmp_path: Path, prometheus: str, fake_slack: FakeSlack) -> Iterator[Server]:
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "routing.yml").write_text(ROUTING)
    srv = start_server(_env(tmp_path, prometheus, fake_slack), log=tmp_path / "serve.log")
    yield srv
    stop_server(srv)


def _env(tmp_path: Path, prometheus: str, fake_slack: FakeSlack) -> dict[str, str]:
    return {"TAKEOVER_DATABASE_URL": f"sqlite:///{tmp_path / 'takeover.db'}", "TAKEOVER_PROMETHEUS_URL": prometheus,
            "TAKEOVER_RULES": str(tmp_path / "rules.yml"), "TAKEOVER_ROUTING": str(tmp_path / "routing.yml"),
            "TAKEOVER_SLACK_TOKEN": "xoxb-test", "TAKEOVER_SLACK_API_URL": fake_slack.url,
            "TAKEOVER_SLACK_SIGNING_SECRET": SECRET, "TAKEOVER_DELIVER_INTERVAL": "0.2",
            "TAKEOVER_RELEASE_INTERVAL": "0.5"}


def operator(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=10,
                        headers={"Authorization": f"Bearer {server.token('--role', 'operator', '--name', 'alice')}"})


def release_body(case: str, **extra: Any) -> dict[str, Any]:
    check = {"name": "error-ratio", "query": f'takeover_test_value{{case="{case}-$variant"}}', "max_ratio": 1.5,
             "max_delta": 0.01, "samples": f'takeover_test_value{{case="{case}-samples-$variant"}}',
             "min_samples": 10, "failure_limit": 1}
    return {"stable": {"version": "v41", "model": "m-1"}, "canary": {"version": "v42", "model": "m-2"},
            "steps": [10, 50, 100], "every": "1s", "analysis": {"checks": [check]}, **extra}


def slack(server: Server, body: str) -> httpx.Response:
    return httpx.post(f"{server.url}/slack/interactions", content=body, headers=signed(body))


def known(server: Server, agent: str) -> str:
    """An agent token; its first poll makes the agent known."""
    token = server.token("--role", "agent", "--agent", agent)
    assert httpx.get(f"{server.url}/v1/agents/{agent}/control", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    return token


def test_a_release_steps_up_rolls_back_on_failing_analysis_and_reports_the_canarys_writes(
        server: Server, exporter: Exporter, fake_slack: FakeSlack) -> None:
    exporter.set(0.01, case="rel-a-canary", agent="")
    exporter.set(0.01, case="rel-a-stable", agent="")
    exporter.set(100, case="rel-a-samples-canary", agent="")
    token = known(server, "rel-bot")
    with operator(server) as op, Client(server.url, token=token, agent="rel-bot", wait=2.0) as client:
        # a gate keeps it at 50 % (waiting_promotion) however long the writes below take
        started = op.post("/v1/agents/rel-bot/releases", json=release_body("rel-a", hold="require_approval", gate=True))
        assert started.status_code == 201, started.text
        assert (started.json()["state"], started.json()["weight"]) == ("progressing", 10)
        poll(lambda: op.get("/v1/agents/rel-bot/releases/current").json(), until=lambda r: r["weight_bp"] == 5000)

        # the agents follow it: half the keys (sticky) run the canary, and say so when they write
        poll(lambda: (client.document or {}).get("release") or {}, until=lambda r: r.get("weight_bp") == 5000)
        ran: dict[str, str] = {}
        for i in range(40):
            variant = client.variant(f"order-{i}")
            with client.guard(action="refund", args={"order": i}, idempotency_key=f"order-{i}", variant=variant):
                ran[f"order-{i}"] = variant.name
        canary_keys = {k for k, v in ran.items() if v == "canary"}
        assert 5 < len(canary_keys) < 35  # about half, by the sticky hash

        exporter.set(0.5, case="rel-a-canary", agent="")  # the canary's error ratio jumps
        rolled = poll(lambda: op.get("/v1/agents/rel-bot/releases/current").json(),
                      until=lambda r: r["state"] == "rolled_back")
        assert rolled["weight_bp"] == 0 and rolled["reason"].startswith("analysis failed: error-ratio: canary 0.5 >")
        poll(lambda: [client.variant(k).name for k in ran], until=lambda names: set(names) == {"stable"})
        assert client.mode() == "require_approval"  # held while the canary's writes are reconciled

        report = op.get("/v1/agents/rel-bot/releases/current/report").json()
        assert {w["idempotency_key"] for w in report["writes"]} == canary_keys  # none of stable's
        assert all(w["action"] == "refund" and w["args"] == {"order": int(w["idempotency_key"][6:])}
                   for w in report["writes"])
        assert report["release"]["to_reconcile"] == len(canary_keys)
        first = report["writes"][0]["audit_id"]
        marked = op.post(f"/v1/agents/rel-bot/releases/current/report/{first}/reconcile", json={"note": "refund voided"})
        assert marked.status_code == 200, marked.text
        assert marked.json()["release"]["to_reconcile"] == len(canary_keys) - 1
        again = op.post(f"/v1/agents/rel-bot/releases/current/report/{first}/reconcile", json={"note": "twice"})
        assert again.status_code == 409
        audit = op.get("/v1/audit", params={"limit": 500}).json()
        rows = audit["rows"]
        assert [(r["actor"], r["reason"]) for r in rows if r["action"] == "release.reconciled"] == [
            ("operator:alice", "refund voided")]
        moves = [r["action"] for r in rows if r["action"].startswith("release.") and r["action"] != "release.reconciled"]
        assert moves in (["release.start", "release.progressing", "release.rolled_back"],
                         ["release.start", "release.progressing", "release.waiting_promotion", "release.rolled_back"])

    # one Slack message for the release, updated in place; its history in the thread
    fake_slack.wait_for(lambda f: any("rolled back" in c.params.get("text", "") for c in f.of("chat.update")))
    assert len(fake_slack.posts("[RELEASE]")) == 1
    notes = [p["text"] for p in fake_slack.posts(thread=True)]
    assert any(n.startswith("started by operator:alice") for n in notes)
    assert any("rolled_back: analysis failed" in n for n in notes)
    fake_slack.wait_for(lambda f: any("writes to reconcile" in c.params.get("text", "") for c in f.of("chat.update")))


def test_inconclusive_analysis_never_promotes_and_pauses_for_a_human(server: Server) -> None:
    known(server, "rel-quiet")
    body = release_body("rel-quiet", steps=[50, 100], analysis={
        "checks": release_body("rel-quiet")["analysis"]["checks"], "inconclusive_limit": 3})
    with operator(server) as op:
        assert op.post("/v1/agents/rel-quiet/releases", json=body).status_code == 201
        paused = poll(lambda: op.get("/v1/agents/rel-quiet/releases/current").json(),
                      until=lambda r: r["state"] != "progressing")
        assert (paused["state"], paused["weight_bp"]) == ("paused", 5000)  # no canary traffic: no verdict
        assert "inconclusive 3 times in a row" in paused["reason"] and "no canary samples" in paused["reason"]
        resumed = op.post("/v1/agents/rel-quiet/releases/current/resume", json={"reason": "traffic is back"})
        assert resumed.json()["state"] == "progressing"


def test_a_rollback_alert_rolls_the_release_back(server: Server, exporter: Exporter) -> None:
    exporter.set(0, case="rel-rollback-alert", agent="rel-alerted")
    known(server, "rel-alerted")
    with operator(server) as op:
        body = release_body("rel-b", every="1h")
        assert op.post("/v1/agents/rel-alerted/releases", json=body).status_code == 201
        exporter.set(1, case="rel-rollback-alert", agent="rel-alerted")
        rolled = poll(lambda: op.get("/v1/agents/rel-alerted/releases/current").json(),
                      until=lambda r: r["state"] == "rolled_back")
        assert rolled["reason"] == "alert CanaryRefundsSpike fired"
    exporter.set(0, case="rel-rollback-alert", agent="rel-alerted")


def test_a_promotion_gate_rejected_in_slack_leaves_the_release_waiting(
        server: Server, exporter: Exporter, fake_slack: FakeSlack) -> None:
    exporter.set(0.01, case="rel-g-canary", agent="")
    exporter.set(0.01, case="rel-g-stable", agent="")
    exporter.set(100, case="rel-g-samples-canary", agent="")
    known(server, "rel-gated")
    with operator(server) as op:
        assert op.post("/v1/agents/rel-gated/releases", json=release_body("rel-g", gate=True)).status_code == 201
        waiting = poll(lambda: op.get("/v1/agents/rel-gated/releases/current").json(),
                       until=lambda r: r["gate_approval_id"] is not None)
        assert (waiting["state"], waiting["weight_bp"]) == ("waiting_promotion", 5000)
        gate = waiting["gate_approval_id"]
        fake_slack.wait_for(lambda f: any("release.promote" in p["text"] for p in f.posts("[APPROVAL]")))
        reject_in_slack(server, fake_slack, gate, "not before the weekend", user="U_ALICE")
        still = poll(lambda: op.get("/v1/agents/rel-gated/releases/current").json(),
                     until=lambda r: "rejected" in r["reason"])
        assert (still["state"], still["weight_bp"]) == ("waiting_promotion", 5000)
        assert still["reason"] == "promotion rejected by operator:alice: not before the weekend"
        # a person may still promote it (from Slack, as alice)
        assert slack(server, click("release_promote", "rel-gated")).status_code == 200
        done = poll(lambda: op.get("/v1/agents/rel-gated/releases/current").json(), until=lambda r: r["state"] == "promoted")
        assert done["reason"] == "promote by operator:alice: from Slack by alice"


def test_a_release_survives_kill_9_at_the_same_step_and_weight(
        tmp_path: Path, prometheus: str, fake_slack: FakeSlack) -> None:
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "routing.yml").write_text(ROUTING)
    first = start_server(_env(tmp_path, prometheus, fake_slack), log=tmp_path / "first.log")
    try:
        known(first, "rel-durable")
        with operator(first) as op:
            body = release_body("rel-d", every="1h")  # no samples: inconclusive, but never paused for it
            body["analysis"]["inconclusive_limit"] = 10_000
            assert op.post("/v1/agents/rel-durable/releases", json=body).status_code == 201
            before = op.get("/v1/agents/rel-durable/releases/current").json()
    finally:
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
    second = start_server(_env(tmp_path, prometheus, fake_slack), log=tmp_path / "second.log")
    try:
        with operator(second) as op:
            after = op.get("/v1/agents/rel-durable/releases/current").json()
        assert {k: after[k] for k in ("id", "state", "step", "weight_bp", "step_since")} == \
               {k: before[k] for k in ("id", "state", "step", "weight_bp", "step_since")}
    finally:
        stop_server(second)


def test_bad_release_requests_get_clear_4xx(server: Server, tmp_path: Path) -> None:
    known(server, "rel-bad")
    with operator(server) as op:
        def refused(body: dict[str, Any], agent: str = "rel-bad") -> tuple[int, str]:
            response = op.post(f"/v1/agents/{agent}/releases", json=body)
            return response.status_code, json.dumps(response.json())

        assert refused(release_body("x", steps=[150, 100]))[0] == 422
        assert "weights must increase" in refused(release_body("x", steps=[50, 10, 100]))[1]
        assert "the last weight must be 100" in refused(release_body("x", steps=[10, 50]))[1]
        code, text = refused(release_body("x"), agent="nobody-knows")
        assert code == 404 and "unknown agent 'nobody-knows'" in text
        bad_query = release_body("x")
        bad_query["analysis"]["checks"][0]["query"] = 'rate(x{v="$variant"}[1m]'
        code, text = refused(bad_query)
        assert code == 422 and "error-ratio: query does not parse" in text
        assert refused(release_body("x", every="1h"))[0] == 201
        code, text = refused(release_body("x"))
        assert code == 409 and "already has an active release" in text
        assert op.post("/v1/agents/rel-bad/releases/current/explode", json={"reason": "x"}).status_code == 422
        assert op.post("/v1/agents/rel-bad/releases/current/resume", json={"reason": "x"}).status_code == 409

    (tmp_path / "analysis.yml").write_text("checks:\n  - name: e\n    query: rate(x[1m])\n")
    result = takeover_cli("release", "start", "rel-bad", "--stable", "v1", "--canary", "v2",
                          "--analysis", str(tmp_path / "analysis.yml"), env=server.env)
    assert result.returncode == 1
    assert f"{tmp_path / 'analysis.yml'}:3:12: e: query must select the variant with $variant" in result.stderr
    result = takeover_cli("release", "start", "rel-bad", "--stable", "v1", "--canary", "v2", "--steps", "5,1,100",
                          env=server.env)
    assert result.returncode == 1 and "steps: weights must increase" in result.stderr
