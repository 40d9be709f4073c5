"""Rule groups shared among replicas on one PostgreSQL: each replica evaluates a share, a killed
one's share moves to the others, a joining one takes a share, and every slot is evaluated once."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session

from takeover import store
from takeover.rules.group import evaluator
from tests.conftest import Exporter, Server, start_server, stop_server, takeover_cli
from tests.fakeslack import FakeSlack
from tests.test_e2e import ROUTING, poll

GROUPS = 20
INTERVAL = 2.0


def rules() -> str:
    out = ["groups:"]
    for i in range(GROUPS):
        expr = 'takeover_test_value{case="share"} > 10' if i == 0 else f'takeover_test_value{{case="share-{i}"}} > 10'
        out += [f"  - name: share-{i:02d}", "    interval: 2s", "    rules:",
                f"      - alert: Share{i:02d}High", f"        expr: {expr}",
                "        labels: {owner: team-e2e, severity: page, takeover: read_only}",
                "        annotations:", "          summary: share test", "          runbook_url: https://r.example.com/s",
                "          first_check: the test gauge"]
    return "\n".join(out) + "\n"


def replica_id(server: Server) -> str:
    return f"{socket.gethostname()}:{server.process.pid}"


def metric(server: Server, name: str) -> float:
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} missing")


def here(server: Server) -> int:
    return int(metric(server, "takeover_rule_groups_evaluated_here"))


def slots(url: str) -> dict[str, list[tuple[float, str]]]:
    """Every evaluated slot per group, from the database: [(slot, replica)], in order."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT group_key, slot, replica FROM rule_group_slot ORDER BY slot")).all()
    finally:
        engine.dispose()
    out: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for key, slot, replica in rows:
        out[key.split(":")[-1]].append((slot, replica))
    return out


def covered(url: str, since: float) -> bool:
    got = slots(url)
    return len(got) == GROUPS and all(any(s >= since for s, _ in v) for v in got.values())


def gaps(history: list[tuple[float, str]], start: float, end: float) -> list[tuple[float, float]]:
    """The (from, to) pairs of consecutive evaluated slots in [start, end] more than one interval apart."""
    inside = [s for s, _ in history if start <= s <= end]
    return [(a, b) for a, b in zip(inside, inside[1:]) if b - a > INTERVAL + 1e-6]


@pytest.mark.slow
def test_replicas_share_the_rule_groups_hand_a_killed_ones_over_and_evaluate_every_slot_once(
        tmp_path: Path, postgres_url: str, prometheus: str, exporter: Exporter, fake_slack: FakeSlack) -> None:
    (tmp_path / "rules.yml").write_text(rules())
    (tmp_path / "routing.yml").write_text(ROUTING)
    env = {"TAKEOVER_DATABASE_URL": postgres_url, "TAKEOVER_PROMETHEUS_URL": prometheus,
           "TAKEOVER_RULES": str(tmp_path / "rules.yml"), "TAKEOVER_ROUTING": str(tmp_path / "routing.yml"),
           "TAKEOVER_SLACK_TOKEN": "xoxb-test", "TAKEOVER_SLACK_API_URL": fake_slack.url,
           "TAKEOVER_DELIVER_INTERVAL": "0.2"}
    servers = {"a": start_server(env, log=tmp_path / "a.log"), "b": start_server(env, log=tmp_path / "b.log")}
    a, b = servers["a"], servers["b"]
    try:
        # both evaluate: each its own share, 20 between them
        poll(lambda: (here(a), here(b)), until=lambda n: min(n) > 0 and sum(n) == GROUPS, timeout=20)
        op = {"Authorization": f"Bearer {a.token('--role', 'operator', '--name', 'op')}"}
        listed = httpx.get(f"{b.url}/v1/rules", headers=op).json()["groups"]
        assert {g["replica"] for g in listed} == {replica_id(a), replica_id(b)}
        assert (f'takeover_rule_group_evaluator{{group="share-00",replica="{listed[0]["replica"]}"}} 1.0'
                in httpx.get(f"{a.url}/metrics").text)

        # a steady stretch: every slot of every group once, shared by both
        t0 = time.time() + 1
        poll(lambda: covered(postgres_url, t0 + 20), until=bool, timeout=40)
        history = slots(postgres_url)
        for name, evaluated in history.items():
            assert gaps(evaluated, t0, t0 + 20) == [], name
        assert {r for v in history.values() for s, r in v if t0 <= s <= t0 + 20} == {replica_id(a), replica_id(b)}

        # an alert fires once; then the replica that evaluates its group is killed
        exporter.set(77, case="share", agent="agent-share")
        fake_slack.wait_for(lambda f: len(f.posts("[FIRING]")) >= 1)
        owner = next(g["replica"] for g in httpx.get(f"{a.url}/v1/rules", headers=op).json()["groups"]
                     if g["name"] == "share-00")
        victim = "a" if owner == replica_id(a) else "b"
        survivor = servers["b" if victim == "a" else "a"]
        killed_at = time.time()
        os.kill(servers[victim].process.pid, signal.SIGKILL)
        servers[victim].process.wait()
        poll(lambda: here(survivor), until=lambda n: n == GROUPS, timeout=15)
        took_all = time.time()

        # a third replica joins and takes a share
        servers["c"] = c = start_server(env, log=tmp_path / "c.log")
        poll(lambda: (here(survivor), here(c)), until=lambda n: min(n) > 0 and sum(n) == GROUPS, timeout=20)
        def listing() -> dict[str, list[str]]:  # what `takeover replicas` says (the counts trail by a beat)
            return {line.split("\t")[0]: line.split("\t") for line in
                    takeover_cli("replicas", env=env).stdout.splitlines()[1:]}
        listed = poll(listing, until=lambda rows: int(rows[replica_id(survivor)][2]) + int(rows[replica_id(c)][2])
                      == GROUPS and int(rows[replica_id(c)][2]) > 0)
        assert "gone" in listed[replica_id(servers[victim])][1]
        assert "term" in listed[replica_id(survivor)][4]  # the survivor leads now
        t1 = time.time() + 1
        poll(lambda: covered(postgres_url, t1 + 10), until=bool, timeout=30)
        history = slots(postgres_url)
        for name, evaluated in history.items():
            assert gaps(evaluated, t1, t1 + 10) == [], name
        assert {r for v in history.values() for s, r in v if t1 <= s <= t1 + 10} == {replica_id(survivor), replica_id(c)}

        # over the whole run, slots were left out only while the killed replica's beats aged (and
        # the one it was evaluating when it was killed)
        for name, evaluated in history.items():
            for before, after in gaps(evaluated, t0, t1 + 10):
                assert killed_at - 2 * INTERVAL <= before and after <= took_all + INTERVAL, (name, before, after, killed_at, took_all)
        assert all(n == 1 for n in Counter((k, s) for k, v in history.items() for s, _ in v).values())

        # the page went out once, the takeover happened once, across three replicas and a kill
        assert len(fake_slack.posts("[FIRING]")) == 1
        audit = httpx.get(f"{c.url}/v1/audit", headers=op, params={"action": "mode.alert"}).json()["rows"]
        assert len(audit) == 1
    finally:
        exporter.set(0, case="share", agent="agent-share")
        for server in servers.values():
            if server.process.poll() is None:
                stop_server(server)


def test_replicas_claiming_one_slot_at_once_commit_it_once(postgres_url: str) -> None:
    engine = store.make_engine(postgres_url)
    won: list[str] = []
    start = threading.Barrier(4)

    def claim(replica: str) -> None:
        with Session(engine) as session:
            start.wait()
            before = store.claim_slot(session=session, group_key="f.yml:g", slot=60.0, replica=replica, now=60.0)
            time.sleep(0.05)  # hold the row while the others try: they must wait, then see this claim
            session.commit()
        if before is not None:
            won.append(replica)
    try:
        threads = [threading.Thread(target=claim, args=(f"r{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(won) == 1
        with Session(engine) as session:
            assert store.claim_slot(session=session, group_key="f.yml:g", slot=59.0, replica="late", now=61.0) is None
            assert store.claim_slot(session=session, group_key="f.yml:g", slot=61.0, replica="next", now=61.0) == 60.0
            session.commit()
            assert [(s.slot, s.replica) for s in store.evaluated_slots(session=session, since=0)] == \
                   [(60.0, won[0]), (61.0, "next")]
    finally:
        engine.dispose()


def test_a_joining_replica_takes_about_its_share_and_only_groups_move_to_it() -> None:
    keys = [f"rules/r.yml:g{i}" for i in range(300)]
    two = {k: evaluator(k, ["a", "b"]) for k in keys}
    three = {k: evaluator(k, ["a", "b", "c"]) for k in keys}
    assert all(three[k] in (two[k], "c") for k in keys)  # nothing moves between a and b
    assert 70 <= Counter(three.values())["c"] <= 130  # about a third
    assert evaluator("g", []) == ""
