"""A paused process must not lie (issue 23): real `takeover serve` replicas on a throwaway
PostgreSQL cluster, frozen with SIGSTOP/SIGCONT as a long GC pause, a frozen VM or an
overloaded host freezes them. Long-polls across a pause of their replica are told the new mode
or 503, never 304; a frozen leader loses its lease and the other replica pages before the
frozen one wakes, once; a replica whose database backends are frozen answers 503 and is not
ready within the staleness bound."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from takeover import store
from takeover.server.hub import CONFIRM_TIMEOUT
from takeover.server.leading import LEASE
from takeover.server.service import READINESS_TIMEOUT
from tests.conftest import Exporter, Server, need, start_server, stop_server
from tests.fakeslack import FakeSlack
from tests.pgcluster import Cluster, Partition, throwaway_cluster
from tests.test_e2e import poll
from tests.test_faults import is_leader, replica_env

pytestmark = pytest.mark.slow
BOUND = 5.0  # TAKEOVER_REPLICA_STALE_AFTER's default: the staleness bound under test
REPEATS = 3


@pytest.fixture(scope="module")
def pg() -> Iterator[Cluster]:
    try:
        with throwaway_cluster() as cluster:
            yield cluster
    except FileNotFoundError as exc:
        need(str(exc))


@pytest.fixture
def database(pg: Cluster) -> str:
    """A fresh database in the throwaway cluster, migrated."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{pg.port}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:{pg.port}/{name}"
    store.make_engine(url, migrate=True).dispose()
    return url


@contextmanager
def frozen(*pids: int) -> Iterator[float]:
    """SIGSTOP the processes; SIGCONT them however the block ends. Yields when they stopped."""
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield time.monotonic()
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def headers(server: Server, *args: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token(*args)}"}


def long_polls_in_flight(server: Server) -> float:
    for line in httpx.get(f"{server.url}/metrics", timeout=5).text.splitlines():
        if line.startswith("takeover_long_polls_in_flight "):
            return float(line.split()[1])
    return 0.0


def test_long_polls_across_a_pause_of_their_replica_get_the_new_mode_or_503_never_304(
        tmp_path: Path, database: str, prometheus: str, fake_slack: FakeSlack) -> None:
    env = replica_env(tmp_path, database, prometheus, fake_slack, "pause")
    a, b = start_server(env, log=tmp_path / "a.log"), start_server(env, log=tmp_path / "b.log")
    try:
        agents = [f"agent-pause-{i}" for i in range(20)]
        bots = {agent: headers(a, "--role", "agent", "--agent", agent) for agent in agents}
        op = headers(b, "--role", "operator", "--name", "op")
        wrong: list[str] = []
        for repeat in range(REPEATS):
            mode = ("read_only", "normal", "pause_writes")[repeat % 3]
            etags = {}
            for agent in agents:
                first = httpx.get(f"{a.url}/v1/agents/{agent}/control", headers=bots[agent], timeout=10)
                assert first.status_code == 200
                etags[agent] = first.headers["etag"]
            answers: dict[str, tuple[int, str | None]] = {}

            def long_poll(agent: str) -> None:
                answer = httpx.get(f"{a.url}/v1/agents/{agent}/control?wait=4s", timeout=60,
                                   headers={**bots[agent], "If-None-Match": etags[agent]})
                answers[agent] = (answer.status_code, answer.json()["mode"] if answer.status_code == 200 else None)

            threads = [threading.Thread(target=long_poll, args=(agent,)) for agent in agents]
            for thread in threads:
                thread.start()
            poll(lambda: long_polls_in_flight(a), until=lambda n: n >= len(agents))
            with frozen(a.process.pid):
                # the change is made through the other replica while this one cannot hear of it,
                # and the pause outlasts both the long-polls' wait and the staleness bound
                for agent in agents:
                    assert httpx.put(f"{b.url}/v1/agents/{agent}/control", headers=op, timeout=10,
                                     json={"mode": mode, "reason": f"pause {repeat}"}).status_code == 200
                time.sleep(BOUND + 2.0)  # the pause itself: the condition under test, not a wait for an event
            for thread in threads:
                thread.join(30)
            assert len(answers) == len(agents)
            wrong += [f"{repeat}/{agent}: {status} {got}" for agent, (status, got) in answers.items()
                      if not (status == 503 or (status == 200 and got == mode))]
            print(f"repeat {repeat}: answers after the pause: "
                  f"{sorted(f'{status} {got}' for status, got in answers.values())[:3]}…")
        assert wrong == [], wrong
        assert "Traceback" not in a.output()
    finally:
        stop_server(a)
        stop_server(b)


def test_a_frozen_leader_loses_its_lease_and_the_other_replica_pages_before_it_wakes_once(
        tmp_path: Path, database: str, prometheus: str, exporter: Exporter, fake_slack: FakeSlack) -> None:
    env = replica_env(tmp_path, database, prometheus, fake_slack, "frozen")
    servers = [start_server(env, log=tmp_path / "r0.log"), start_server(env, log=tmp_path / "r1.log")]
    op = headers(servers[0], "--role", "operator", "--name", "op")
    failovers: list[float] = []
    try:
        for repeat in range(REPEATS):
            leader = poll(lambda: [s for s in servers if is_leader(s)], until=lambda found: len(found) == 1)[0]
            other = servers[1 - servers.index(leader)]
            fake_slack.delay = 0.3  # a slow Slack: the leader is mid-batch when it freezes
            for i in range(10):
                assert httpx.put(f"{other.url}/v1/agents/agent-frozen-{repeat}-{i}/control", headers=op,
                                 json={"mode": "pause_writes", "reason": f"change {i}"}).status_code == 200
            fake_slack.wait_for(lambda f: len(f.posts_by_text(f"[MODE] agent-frozen-{repeat}-")) >= 2)
            with frozen(leader.process.pid) as since:
                poll(lambda: is_leader(other), until=bool, timeout=4 * LEASE)
                failovers.append(time.monotonic() - since)
                fake_slack.delay = 0.0
                # a page while the old leader is still frozen: only the new one can send it
                exporter.set(50, case="frozen", agent=f"agent-page-{repeat}")
                fake_slack.wait_for(lambda f: len(f.posts_by_text("[FIRING] agent-page-")) > repeat, timeout=30)
                fake_slack.wait_for(lambda f: len(f.posts_by_text(f"[MODE] agent-frozen-{repeat}-")) == 10, timeout=30)
                paged_after = time.monotonic() - since
            exporter.set(0, case="frozen", agent=f"agent-page-{repeat}")
            # awake again: the old leader finds its term over before it makes another call
            poll(lambda: is_leader(leader), until=lambda leads: not leads)
            poll(lambda: "is over" in leader.output(), until=bool)
            print(f"repeat {repeat}: new leader {failovers[-1]:.1f}s after the freeze, page and "
                  f"messages {paged_after:.1f}s after")
        counts = {**fake_slack.posts_by_text("[MODE] agent-frozen-"), **fake_slack.posts_by_text("[FIRING")}
        assert {k: n for k, n in counts.items() if n != 1} == {}
        assert max(failovers) <= 2 * LEASE, failovers  # docs/operations/production.md's failover bound
    finally:
        fake_slack.delay = 0.0
        for server in servers:
            stop_server(server)


def backends(pg: Cluster, server: Server) -> list[int]:
    """The PostgreSQL backends serving `server`'s connections (pool and change feed)."""
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{pg.port}/postgres", autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s",
                            (f"takeover %:{server.process.pid}",)).fetchall()
    return [int(pid) for (pid,) in rows]


def watch_polls(server: Server, bot: dict[str, str], *, mode: str, since: float, seconds: float) -> dict[str, Any]:
    """Poll as an agent does, and /readyz beside it, for `seconds`: when the replica first
    refused (503), when it first said it is not ready, and any answer past the bound with a
    mode other than `mode` (the one the database holds since `since`)."""
    seen: dict[str, Any] = {"wrong": [], "refused": None, "not_ready": None, "answers": 0}

    def readiness() -> None:
        while time.monotonic() - since < seconds and seen["not_ready"] is None:
            ready = httpx.get(f"{server.url}/readyz", timeout=10).json()
            if not ready["checks"]["current"]["ok"]:
                seen["not_ready"] = round(time.monotonic() - since, 1)
            time.sleep(0.2)

    checker = threading.Thread(target=readiness)
    checker.start()
    while time.monotonic() - since < seconds:
        answer = httpx.get(f"{server.url}/v1/agents/agent-cut/control", headers=bot, timeout=10)
        at = time.monotonic() - since
        seen["answers"] += 1
        if answer.status_code == 200 and answer.json()["mode"] != mode and at > BOUND:
            seen["wrong"].append(f"{at:.1f}s: {answer.json()['mode']}")
        elif answer.status_code == 503 and seen["refused"] is None:
            seen["refused"] = round(at, 1)
        time.sleep(0.2)  # the polling rate of an agent
    checker.join()
    return seen


def test_a_replica_cut_off_from_its_database_answers_503_and_is_not_ready_within_the_bound(
        tmp_path: Path, pg: Cluster, database: str, prometheus: str, fake_slack: FakeSlack) -> None:
    partition = Partition(pg.port)  # nothing this replica sends reaches the database, nothing closes
    cut_off = database.replace(f":{pg.port}/", f":{partition.port}/")
    a = start_server(replica_env(tmp_path, cut_off, prometheus, fake_slack, "cut"), log=tmp_path / "a.log")
    b = start_server(replica_env(tmp_path, database, prometheus, fake_slack, "cut"), log=tmp_path / "b.log")
    try:
        bot = headers(b, "--role", "agent", "--agent", "agent-cut")
        op = headers(b, "--role", "operator", "--name", "op")
        for repeat in range(REPEATS):
            mode = ("read_only", "normal", "pause_writes")[repeat % 3]
            assert httpx.get(f"{a.url}/v1/agents/agent-cut/control", headers=bot, timeout=10).status_code == 200
            partition.cut()
            since = time.monotonic()
            assert httpx.put(f"{b.url}/v1/agents/agent-cut/control", headers=op, timeout=10,
                             json={"mode": mode, "reason": f"cut {repeat}"}).status_code == 200
            seen = watch_polls(a, bot, mode=mode, since=since, seconds=BOUND + 4.0)
            partition.heal()
            print(f"repeat {repeat}: {seen}")
            assert seen["wrong"] == []
            # within the bound, plus the wait for a confirmation that does not come, plus a poll
            assert seen["refused"] is not None and seen["refused"] <= BOUND + CONFIRM_TIMEOUT + 1.0
            assert seen["not_ready"] is not None and seen["not_ready"] <= BOUND + READINESS_TIMEOUT + 1.0
            # the database answers again: the replica serves the mode it holds
            poll(lambda: httpx.get(f"{a.url}/v1/agents/agent-cut/control", headers=bot, timeout=10),
                 until=lambda r: r.status_code == 200 and r.json()["mode"] == mode, timeout=30)
            poll(lambda: httpx.get(f"{a.url}/readyz", timeout=10).json()["ready"], until=bool, timeout=30)
    finally:
        partition.close()
        stop_server(a)
        stop_server(b)


def test_a_replica_whose_database_backends_freeze_never_serves_the_old_mode_past_the_bound(
        tmp_path: Path, pg: Cluster, database: str, prometheus: str, fake_slack: FakeSlack) -> None:
    """Its open connections hang; a new one answers: it confirms over that (or refuses)."""
    env = replica_env(tmp_path, database, prometheus, fake_slack, "cut")
    a, b = start_server(env, log=tmp_path / "a.log"), start_server(env, log=tmp_path / "b.log")
    try:
        bot = headers(a, "--role", "agent", "--agent", "agent-cut")
        op = headers(b, "--role", "operator", "--name", "op")
        for repeat in range(2):
            mode = ("read_only", "normal")[repeat]
            assert httpx.get(f"{a.url}/v1/agents/agent-cut/control", headers=bot, timeout=10).status_code == 200
            pids = backends(pg, a)
            assert pids, "no backend of the replica found"
            with frozen(*pids) as since:
                assert httpx.put(f"{b.url}/v1/agents/agent-cut/control", headers=op, timeout=10,
                                 json={"mode": mode, "reason": f"freeze {repeat}"}).status_code == 200
                seen = watch_polls(a, bot, mode=mode, since=since, seconds=BOUND + 3.0)
            print(f"repeat {repeat}: {seen}")
            assert seen["wrong"] == [] and seen["answers"] > 10
            poll(lambda: httpx.get(f"{a.url}/v1/agents/agent-cut/control", headers=bot, timeout=10),
                 until=lambda r: r.status_code == 200 and r.json()["mode"] == mode, timeout=30)
    finally:
        stop_server(a)
        stop_server(b)
