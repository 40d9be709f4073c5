"""Faults of the database and of leadership, with real processes: no stale replica after a
database restart, no false all-clear after a failover during a Prometheus outage, one sender
after a lost lock connection, no duplicate (or orphan left live) after a kill -9 mid-post."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from takeover import store
from takeover.notify.delivery import SUPERSEDED
from takeover.notify.slack import SlackNotifier
from takeover.server.replicas import conninfo
from takeover.server.service import Service
from takeover.server.settings import Settings
from takeover.tools.promproc import free_port
from tests.conftest import ROOT, Exporter, Server, need, start_server, stop_server
from tests.fakeslack import FakeSlack
from tests.pgcluster import Cluster, throwaway_cluster
from tests.test_e2e import ROUTING, RULES, poll

pytestmark = pytest.mark.slow


def is_leader(server: Server) -> bool:
    try:
        text_ = httpx.get(f"{server.url}/metrics", timeout=2).text
    except httpx.HTTPError:
        return False
    return any(line == "takeover_leader 1.0" for line in text_.splitlines())


def mode(server: Server, agent: str, headers: dict[str, str]) -> str | None:
    answer = httpx.get(f"{server.url}/v1/agents/{agent}/control", headers=headers, timeout=5)
    return answer.json()["mode"] if answer.status_code == 200 else None


def retry_put(server: Server, agent: str, headers: dict[str, str], new_mode: str) -> None:
    """A change right after a database restart: the first attempt may meet a dead connection."""
    poll(lambda: httpx.put(f"{server.url}/v1/agents/{agent}/control", headers=headers, timeout=10,
                           json={"mode": new_mode, "reason": "fault test"}).status_code,
         until=lambda status: status == 200, timeout=20)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    try:
        with throwaway_cluster() as pg:
            store.make_engine(pg.url, migrate=True).dispose()
            yield pg
    except FileNotFoundError as exc:
        need(str(exc))


def replica_env(tmp_path: Path, database_url: str, prometheus: str, fake_slack: FakeSlack,
                case: str) -> dict[str, str]:
    (tmp_path / "rules.yml").write_text(RULES.replace('case="e2e"', f'case="{case}"'))
    (tmp_path / "routing.yml").write_text(ROUTING)
    return {"TAKEOVER_DATABASE_URL": database_url, "TAKEOVER_PROMETHEUS_URL": prometheus,
            "TAKEOVER_RULES": str(tmp_path / "rules.yml"), "TAKEOVER_ROUTING": str(tmp_path / "routing.yml"),
            "TAKEOVER_SLACK_TOKEN": "xoxb-test", "TAKEOVER_SLACK_API_URL": fake_slack.url,
            "TAKEOVER_DELIVER_INTERVAL": "0.2", "TAKEOVER_SLACK_TIMEOUT": "2"}


def test_a_replica_serves_changes_and_revocations_made_on_another_right_after_a_database_restart(
        tmp_path: Path, cluster: Cluster, prometheus: str, fake_slack: FakeSlack) -> None:
    env = replica_env(tmp_path, cluster.url, prometheus, fake_slack, "restart")
    a = start_server(env, log=tmp_path / "a.log")
    b = start_server(env, log=tmp_path / "b.log")
    try:
        op = {"Authorization": f"Bearer {a.token('--role', 'operator', '--name', 'op')}"}
        admin = {"Authorization": f"Bearer {a.token('--role', 'admin', '--name', 'root')}"}
        doomed = a.token("--role", "operator", "--name", "doomed")
        bot = {"Authorization": f"Bearer {a.token('--role', 'agent', '--agent', 'agent-pg')}"}
        assert mode(b, "agent-pg", bot) == "normal"  # B holds the document in its cache
        retry_put(a, "agent-pg", op, "pause_writes")  # A's notification connection is open now
        poll(lambda: mode(b, "agent-pg", bot), until=lambda m: m == "pause_writes", timeout=10)
        assert httpx.get(f"{b.url}/v1/agents", headers={"Authorization": f"Bearer {doomed}"}).status_code == 200

        cluster.restart()  # every connection of both replicas dies
        # B listens again before A's change, so only A's notification can tell B
        poll(b.output, until=lambda out: "change feed listening again" in out, timeout=20)

        etag = poll(lambda: httpx.get(f"{b.url}/v1/agents/agent-pg/control", headers=bot, timeout=5),
                    until=lambda r: r.status_code == 200, timeout=20).headers["ETag"]
        held: dict[str, Any] = {}

        def long_poll() -> None:
            held["answer"] = httpx.get(f"{b.url}/v1/agents/agent-pg/control", params={"wait": "30s"},
                                       headers={**bot, "If-None-Match": etag}, timeout=40)
            held["at"] = time.monotonic()

        waiter = threading.Thread(target=long_poll)
        waiter.start()
        retry_put(a, "agent-pg", op, "read_only")
        changed_at = time.monotonic()
        waiter.join(40)
        # the long-poll on B wakes with the change made on A (it used to time out with 304)
        assert held["answer"].status_code == 200 and held["answer"].json()["mode"] == "read_only"
        assert held["at"] - changed_at < 10
        assert mode(b, "agent-pg", bot) == "read_only"

        # a token revoked through A after the restart stops working on B at once
        tokens = httpx.get(f"{a.url}/v1/tokens", headers=admin).json()
        (doomed_id,) = [t["id"] for t in tokens if t["name"] == "doomed"]
        assert httpx.post(f"{a.url}/v1/tokens/{doomed_id}/revoke", headers=admin).status_code == 200
        poll(lambda: httpx.get(f"{b.url}/v1/agents", headers={"Authorization": f"Bearer {doomed}"}).status_code,
             until=lambda status: status == 401, timeout=10)
    finally:
        stop_server(a)
        stop_server(b)


def test_a_replica_that_cannot_reach_the_database_stops_serving_control_documents(
        tmp_path: Path, cluster: Cluster, prometheus: str, fake_slack: FakeSlack) -> None:
    env = {**replica_env(tmp_path, cluster.url, prometheus, fake_slack, "deaf"),
           "TAKEOVER_REPLICA_STALE_AFTER": "3"}
    a = start_server(env, log=tmp_path / "a.log")
    try:
        bot = {"Authorization": f"Bearer {a.token('--role', 'agent', '--agent', 'agent-deaf')}"}
        assert mode(a, "agent-deaf", bot) == "normal"
        cluster.stop()
        # it cannot know what another replica changed: after the bound it answers 503, so the
        # SDK's fail-closed staleness rule applies instead of a stale all-clear
        refused = poll(lambda: httpx.get(f"{a.url}/v1/agents/agent-deaf/control", headers=bot, timeout=5),
                       until=lambda r: r.status_code == 503, timeout=20)
        assert "cannot confirm" in refused.json()["detail"]
        ready = httpx.get(f"{a.url}/readyz").json()
        assert ready["checks"]["current"]["ok"] is False
        cluster.start()
        poll(lambda: mode(a, "agent-deaf", bot), until=lambda m: m == "normal", timeout=20)
    finally:
        stop_server(a)


def test_a_failover_during_a_prometheus_outage_keeps_the_fail_safe_and_the_page(
        tmp_path: Path, postgres_url: str, fake_slack: FakeSlack) -> None:
    dead_prometheus = f"http://127.0.0.1:{free_port()}"  # nothing listens: every query fails
    env = {**replica_env(tmp_path, postgres_url, dead_prometheus, fake_slack, "outage"),
           "TAKEOVER_FAILSAFE_MODE": "require_approval", "TAKEOVER_FAILSAFE_AFTER": "2",
           "TAKEOVER_META_ALERT_AFTER": "2", "TAKEOVER_QUERY_TIMEOUT": "1"}
    servers = {"a": start_server(env, log=tmp_path / "a.log"), "b": start_server(env, log=tmp_path / "b.log")}
    try:
        a = servers["a"]
        bot = {"Authorization": f"Bearer {a.token('--role', 'agent', '--agent', 'agent-out')}"}
        op = {"Authorization": f"Bearer {a.token('--role', 'operator', '--name', 'op')}"}
        poll(lambda: mode(a, "agent-out", bot), until=lambda m: m == "require_approval", timeout=30)
        fake_slack.wait_for(lambda f: len(f.posts("[FIRING]")) == 1)
        name = "a" if is_leader(a) else "b"
        follower = servers["b" if name == "a" else "a"]
        # the follower never queries, yet it reports the outage the leader sees
        ready = httpx.get(f"{follower.url}/readyz").json()
        assert ready["checks"]["prometheus"]["ok"] is False, ready

        os.kill(servers[name].process.pid, signal.SIGKILL)
        servers[name].process.wait()
        poll(lambda: is_leader(follower), until=bool, timeout=15)
        # the new leader runs its fail-safe and meta-alert checks every second: watch several
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            assert mode(follower, "agent-out", bot) == "require_approval"
            time.sleep(0.2)
        releases = httpx.get(f"{follower.url}/v1/audit", headers=op, params={"action": "mode.release"}).json()
        assert releases["rows"] == []  # no "Prometheus reachable again" while it never was
        assert len(fake_slack.posts("[FIRING]")) == 1  # still one incident, not a new page
        assert fake_slack.of("chat.update") == [] or all(
            "RESOLVED" not in str(c.params.get("text")) for c in fake_slack.of("chat.update"))
    finally:
        for server in servers.values():
            if server.process.poll() is None:
                stop_server(server)


def test_a_leader_whose_term_is_taken_mid_batch_stops_and_each_message_is_posted_once(
        tmp_path: Path, postgres_url: str, prometheus: str, fake_slack: FakeSlack) -> None:
    env = replica_env(tmp_path, postgres_url, prometheus, fake_slack, "lock")
    servers = {"a": start_server(env, log=tmp_path / "a.log"), "b": start_server(env, log=tmp_path / "b.log")}
    try:
        poll(lambda: sorted(is_leader(s) for s in servers.values()), until=lambda f: f == [False, True])
        name = "a" if is_leader(servers["a"]) else "b"
        old, new = servers[name], servers["b" if name == "a" else "a"]
        op = {"Authorization": f"Bearer {old.token('--role', 'operator', '--name', 'op')}"}
        fake_slack.delay = 0.3  # a slow Slack: the old leader is mid-batch when its term ends
        for i in range(40):
            assert httpx.put(f"{old.url}/v1/agents/agent-lock-{i}/control", headers=op,
                             json={"mode": "pause_writes", "reason": f"change {i}"}).status_code == 200
        fake_slack.wait_for(lambda f: len(f.of("chat.postMessage")) >= 3)
        with psycopg.connect(conninfo(postgres_url), autocommit=True) as conn:
            # a leader nobody runs takes the next term for 3 s: the old one is deposed mid-batch
            taken = conn.execute("UPDATE leader_term SET term = term + 1, holder = 'elsewhere:1', "
                                 "expires_at = extract(epoch from clock_timestamp()) + 3 RETURNING term").fetchall()
        assert len(taken) == 1
        poll(lambda: "is over" in old.output(), until=bool, timeout=30)
        # once that lease runs out, either replica may take the next term (the deposed one too)
        poll(lambda: [is_leader(s) for s in servers.values()], until=any, timeout=30)
        fake_slack.delay = 0.0
        fake_slack.wait_for(lambda f: len(f.posts_by_text("[MODE] agent-lock-")) == 40, timeout=60)
        counts = fake_slack.posts_by_text("[MODE] agent-lock-")
        assert all(n == 1 for n in counts.values()), {k: n for k, n in counts.items() if n > 1}
        assert "duplicate key" not in old.output() + new.output()
    finally:
        for server in servers.values():
            stop_server(server)


def test_kill_9_of_the_leader_at_random_moments_loses_and_duplicates_nothing(
        tmp_path: Path, postgres_url: str, prometheus: str, exporter: Exporter, fake_slack: FakeSlack) -> None:
    env = replica_env(tmp_path, postgres_url, prometheus, fake_slack, "chaos")
    servers = [start_server(env, log=tmp_path / "r0.log"), start_server(env, log=tmp_path / "r1.log")]
    op = {"Authorization": f"Bearer {servers[0].token('--role', 'operator', '--name', 'op')}"}
    fake_slack.delay = 0.2  # every Slack call is slow: kills land mid-post
    rng = random.Random(7)
    changes = 0
    try:
        for round_ in range(5):
            exporter.set(50 if round_ % 2 == 0 else 0, case="chaos", agent="agent-chaos")
            for _ in range(4):
                changes += 1
                target = servers[rng.randrange(len(servers))]
                answer = httpx.put(f"{target.url}/v1/agents/agent-chaos-{changes}/control", headers=op,
                                   json={"mode": "read_only", "reason": f"chaos {changes}"})
                assert answer.status_code == 200
            time.sleep(rng.uniform(0.1, 1.0))  # a random moment, not a wait for anything
            leader = poll(lambda: [s for s in servers if is_leader(s)], until=lambda found: len(found) == 1)[0]
            os.kill(leader.process.pid, signal.SIGKILL)
            leader.process.wait()
            index = servers.index(leader)
            servers[index] = start_server(env, log=tmp_path / f"r{index}-{round_}.log")
        fake_slack.delay = 0.0
        fake_slack.wait_for(lambda f: len(f.posts_by_text("[MODE] agent-chaos-")) == changes, timeout=60)
        duplicated = {k: n for k, n in fake_slack.posts_by_text("[MODE]").items() if n > 1}
        assert duplicated == {}, duplicated
        for line in servers[0].output().splitlines():
            assert "apscheduler" not in line  # job runs are not logged at the default level
    finally:
        exporter.set(0, case="chaos", agent="agent-chaos")
        for server in servers:
            stop_server(server)


def in_process(tmp_path: Path, notifier: Any, clock: list[float]) -> Service:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'faults.db'}", templates=str(ROOT / "templates"))
    return Service(settings, groups=[], notifier=notifier, query=lambda expr, at: [], clock=lambda: clock[0])


def impatient(tmp_path: Path, fake_slack: FakeSlack) -> tuple[Service, SlackNotifier, list[float]]:
    """A service on a clock the test moves, whose Slack client gives up after 1 s, no retries."""
    clock = [1_700_000_000.0]
    slack = SlackNotifier(token="xoxb-t", base_url=fake_slack.url, timeout=1)
    return in_process(tmp_path, slack, clock), slack, clock


def test_a_post_that_landed_after_its_timeout_is_found_and_its_orphan_loses_its_buttons(
        tmp_path: Path, fake_slack: FakeSlack) -> None:
    service, slack, clock = impatient(tmp_path, fake_slack)
    with service.sessions() as s:
        store.enqueue(session=s, message_key="approval:late", channel="#ops", now=clock[0], payload={
            "text": "[PENDING] approve?", "blocks": [{"type": "actions", "elements": []}]})
        s.commit()
    fake_slack.late_next(1, seconds=2.5)  # the post lands after the client gave up
    assert service.deliver() == 0
    clock[0] += 1  # its back-off after a first failure
    assert service.deliver() == 1  # in doubt, not found yet: posted again
    fake_slack.wait_for(lambda f: len(f.messages) == 2)  # the late copy arrived: an orphan
    clock[0] += slack.settle + 1
    service.deliver()
    (superseded,) = [c.params for c in fake_slack.of("chat.update")]
    assert superseded["text"] == SUPERSEDED["text"] and "actions" not in str(superseded["blocks"])
    with service.sessions() as s:
        kept = store.posted_message(session=s, key="approval:late")
        assert kept is not None and kept.ts != superseded["ts"] and kept.orphan_check_at is None
    service.stop()


def test_an_in_doubt_post_found_in_the_channel_is_adopted_not_posted_again(
        tmp_path: Path, fake_slack: FakeSlack) -> None:
    service, slack, clock = impatient(tmp_path, fake_slack)
    with service.sessions() as s:
        store.enqueue(session=s, message_key="group:x", channel="#ops", now=clock[0], payload={"text": "[FIRING] x"})
        store.enqueue(session=s, message_key="group:x", channel="#ops", now=clock[0], payload={"text": "[RESOLVED] x"})
        s.commit()
    fake_slack.late_next(1, seconds=1.2)
    assert service.deliver() == 0  # timed out; the post lands a moment later
    fake_slack.wait_for(lambda f: len(f.messages) == 1)
    clock[0] += 1  # its back-off after a first failure
    assert service.deliver() == 2  # adopted, then updated in place
    assert len(fake_slack.of("chat.postMessage")) == 1
    (update,) = fake_slack.of("chat.update")
    assert update.params["text"] == "[RESOLVED] x"
    service.stop()


def test_one_message_that_slack_holds_up_does_not_hold_up_the_others(tmp_path: Path, fake_slack: FakeSlack) -> None:
    clock = [1_700_000_000.0]
    slack = SlackNotifier(token="xoxb-t", base_url=fake_slack.url, timeout=30)
    service = in_process(tmp_path, slack, clock)
    with service.sessions() as s:
        store.enqueue(session=s, message_key="stuck", channel="#stuck", now=clock[0], payload={"text": "stuck"})
        for i in range(12):
            store.enqueue(session=s, message_key=f"m{i}", channel="#ok", now=clock[0], payload={"text": f"m{i}"})
        s.commit()
    fake_slack.blocked = "#stuck"
    passes: list[int] = []
    worker = threading.Thread(target=lambda: passes.append(service.deliver()))
    worker.start()
    try:
        # all twelve arrive while the first row's call is still hanging
        fake_slack.wait_for(lambda f: len([c for c in f.of("chat.postMessage") if c.params["channel"] == "#ok"]) == 12)
        assert worker.is_alive()
    finally:
        fake_slack.unblock.set()
        worker.join(30)
    assert passes == [13]
    service.stop()
