"""Release operations on SQLite and PostgreSQL: one active release per agent (also when two
start at once), the analysis tick against a static query, and the canary's writes."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from takeover.app import agents, releases
from takeover.app.errors import Refusal
from takeover.control import release as core
from takeover.control.principal import Principal, Role
from takeover.notify.slack import ConsoleNotifier
from takeover.rules.evaluate import Sample
from takeover.rules.query import static_query
from takeover.server.service import Service
from takeover.server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CHECK = core.Check("errors", 'e{v="$variant"}', max_ratio=1.5, max_delta=0.01, failure_limit=1)
PLAN = core.Plan((1000, 10_000), every=0.001, checks=(CHECK,))
BOT = Principal("bot", Role.agent, ("bot",))


@pytest.fixture
def service(database_url: str) -> Iterator[Service]:
    svc = Service(Settings(database_url=database_url, templates=str(ROOT / "templates")), groups=[],
                  notifier=ConsoleNotifier(io.StringIO()), query=static_query({}))
    agents.known(svc.app, "bot")
    yield svc
    svc.stop()


def leader_term(service: Service) -> int:
    """This process leads (the lease taken on PostgreSQL): the term its analysis is fenced by."""
    assert service.lead()
    term = service.leadership.term()
    assert term is not None
    return term


def start(service: Service) -> dict[str, object]:
    return releases.start(service.app, actor="operator:alice", agent="bot", stable={"version": "v1"},
                          canary={"version": "v2"}, plan=PLAN)


def test_only_one_of_two_concurrent_starts_wins(service: Service) -> None:
    outcomes: list[object] = []
    barrier = threading.Barrier(2)

    def go() -> None:
        barrier.wait()
        try:
            outcomes.append(start(service)["id"])
        except Refusal as exc:
            outcomes.append(exc.status)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes, key=lambda o: o == 409) [1:] == [409], outcomes  # a clear 409, never a 500
    with pytest.raises(Refusal) as exc:
        start(service)
    assert exc.value.status == 409


def test_the_tick_rolls_back_on_a_failed_check_and_the_report_lists_only_the_canarys_writes(service: Service) -> None:
    release = start(service)
    canary = {"release": release["id"], "name": "canary", "version": "v2"}
    stable = {"release": release["id"], "name": "stable", "version": "v1"}
    for key, variant in (("a", canary), ("b", stable), ("c", canary)):
        answer = agents.ask(service.app, BOT, agent="bot", action="refund", kind="write", risk="low",
                            args={"order": key}, idempotency_key=key, variant=variant)
        assert answer["decision"] == "allow"
    agents.ask(service.app, BOT, agent="bot", action="lookup", kind="read", risk="low", args={},
               idempotency_key="r", variant=canary)  # a read is never a write to reconcile
    healthy = static_query({'e{v="canary"}': [Sample({}, 0.01)], 'e{v="stable"}': [Sample({}, 0.01)]})
    assert releases.tick(service.app, query=healthy, term=leader_term(service)) == 1
    assert releases.status(service.app, agent="bot")["state"] == "promoted"  # healthy, its 1 ms at the step passed

    second = releases.start(service.app, actor="operator:alice", agent="bot", stable={"version": "v2"},
                            canary={"version": "v3"}, plan=PLAN)
    agents.ask(service.app, BOT, agent="bot", action="refund", kind="write", risk="low", args={"order": "d"},
               idempotency_key="d", variant={"release": second["id"], "name": "canary", "version": "v3"})
    failing = static_query({'e{v="canary"}': [Sample({}, 0.9)], 'e{v="stable"}': [Sample({}, 0.01)]})
    assert releases.tick(service.app, query=failing, term=leader_term(service)) == 1
    report = releases.report(service.app, agent="bot")
    assert report["release"]["state"] == "rolled_back" and report["release"]["to_reconcile"] == 1
    assert [w["idempotency_key"] for w in report["writes"]] == ["d"]  # this release's canary only
    with service.sessions() as s:
        from takeover import store

        first = store.canary_writes(session=s, row=s.get(store.models.ReleaseRow, release["id"]))
    assert [w["idempotency_key"] for w in first] == ["a", "c"]


STEPS = core.Plan((1000, 5000, 10_000), every=0.001, checks=(CHECK,))
HEALTHY = static_query({'e{v="canary"}': [Sample({}, 0.01)], 'e{v="stable"}': [Sample({}, 0.01)]})


def test_a_persons_abort_racing_the_analysis_tick_always_ends_rolled_back(service: Service) -> None:
    """Each round: a release the healthy analysis would step up (10 % → 50 %), and a person's
    abort at the same moment, each order in turn and then both at once (threads through a
    barrier). The abort always wins: rolled back at weight 0, never overwritten by the step."""
    term = leader_term(service)
    for round_ in range(24):
        release = releases.start(service.app, actor="operator:alice", agent="bot", stable={"version": "v1"},
                                 canary={"version": f"v{round_ + 2}"}, plan=STEPS)
        order = round_ % 3
        if order == 0:  # the step first, then the abort: applied on the stepped release
            releases.tick(service.app, query=HEALTHY, term=term)
            releases.act(service.app, actor="operator:alice", agent="bot", action="abort", reason="bad canary")
        elif order == 1:  # the abort first: the tick finds nothing active
            releases.act(service.app, actor="operator:alice", agent="bot", action="abort", reason="bad canary")
            assert releases.tick(service.app, query=HEALTHY, term=term) == 0
        else:
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def run(work: object) -> None:
                barrier.wait()
                try:
                    work()  # type: ignore[operator]
                except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                    errors.append(exc)

            threads = [threading.Thread(target=run, args=(lambda: releases.tick(service.app, query=HEALTHY, term=term),)),
                       threading.Thread(target=run, args=(lambda: releases.act(
                           service.app, actor="operator:alice", agent="bot", action="abort", reason="bad canary"),))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors, errors
        now = releases.status(service.app, agent="bot")
        assert (now["id"], now["state"], now["weight_bp"]) == (release["id"], "rolled_back", 0), (round_, now)


def test_the_analysis_of_a_deposed_leader_saves_nothing(service: Service) -> None:
    from takeover import store

    start(service)
    stale = leader_term(service)
    with pytest.raises(store.Deposed):
        releases.tick(service.app, query=HEALTHY, term=stale - 1)
    assert releases.status(service.app, agent="bot")["weight_bp"] == 1000
