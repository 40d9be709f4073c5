"""The running service: APScheduler evaluates each rule group on its slots, acts, and delivers.

The shell around the pure core: it queries Prometheus, calls `evaluate`, and writes the new alert
state, the mode changes and the notifications they cause in one transaction per group slot.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import Session

from takeover import store
from takeover.control import Source, SourceKind
from takeover.evaluate import EvaluationError, Labels, Sample, State, Transition, evaluate
from takeover.mode import ALL_AGENTS, Mode
from takeover.hub import ControlHub
from takeover.notify import Message, Notifier, deliver, render_message, template_env
from takeover.query import QueryError, QueryFunc
from takeover.rulefile import Group, Rule
from takeover.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class RuleHealth:
    health: str = "unknown"  # ok | err | unknown
    last_error: str = ""
    last_eval_at: float = 0.0
    duration: float = 0.0


def slot_at(now: float, *, interval: float, offset: float) -> float:
    """The latest evaluation slot at or before `now` (Prometheus spreads groups by an offset)."""
    return ((now - offset) // interval) * interval + offset


def group_offset(group: Group) -> float:
    digest = hashlib.sha256(group.key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % int(group.interval * 1000) / 1000.0


def alert_ref(rule: Rule, labels: Labels) -> str:
    """`Name{series="labels"}`: how a person recognises the alert (rule labels left out)."""
    inner = ",".join(f'{k}="{v}"' for k, v in labels if k != "alertname" and k not in rule.labels)
    return f"{rule.name}{{{inner}}}"


class Service:
    """Owns the database engine, the control cache and the scheduler for one process."""

    def __init__(self, settings: Settings, *, groups: list[Group], notifier: Notifier,
                 query: QueryFunc, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.groups = groups
        self.notifier = notifier
        self.query = query
        self.clock = clock
        self.engine = store.make_engine(settings.database_url)
        self.hub = ControlHub(self._load_documents)
        self.templates = template_env(settings.templates)
        self.health: dict[str, RuleHealth] = {}
        self.scheduler = BackgroundScheduler(
            timezone=timezone.utc,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="query")
        self._deliver_lock = threading.Lock()
        self.blind_since: float | None = None  # first failed query since the last success
        self._register_agents()

    def sessions(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _load_documents(self, agents: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self.sessions() as session:
            return store.control_documents(session=session, agents=agents, now=self.clock())

    def _register_agents(self) -> None:
        """Agents a rule names by a fixed `agent` label are known before they poll."""
        names = {r.labels["agent"] for g in self.groups for r in g.rules
                 if "agent" in r.labels and "{{" not in r.labels["agent"]}
        with self.sessions() as session:
            for name in sorted(names):
                store.ensure_agent(session=session, name=name, now=self.clock())
            session.commit()

    def start(self) -> None:
        now = self.clock()
        for group in self.groups:
            offset = group_offset(group)
            first = slot_at(now, interval=group.interval, offset=offset) + group.interval
            self.scheduler.add_job(
                self.run_group, IntervalTrigger(
                    seconds=group.interval,
                    start_date=datetime.fromtimestamp(first, timezone.utc)),
                args=[group], id=f"group:{group.key}", name=f"evaluate {group.name}")
        self.scheduler.add_job(self.deliver, IntervalTrigger(seconds=self.settings.deliver_interval),
                               id="deliver", name="deliver notifications")
        self.scheduler.add_job(self.expire, IntervalTrigger(seconds=1), id="expire",
                               name="expire overrides and apply the fail-safe")
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self._pool.shutdown(wait=True)
        self.engine.dispose()

    def run_group(self, group: Group) -> None:
        """The scheduled job: evaluate the group at its current slot."""
        slot = slot_at(self.clock() + 0.001, interval=group.interval, offset=group_offset(group))
        self.evaluate_group(group, now=slot)
        self.wake_delivery()

    def evaluate_group(self, group: Group, *, now: float) -> None:
        """Evaluate every rule of `group` at `now` and commit the outcome as one transaction."""
        started = time.monotonic()
        results = list(self._pool.map(lambda r: self._query(r, now), group.rules))
        changed: list[str] = []
        with self.sessions() as session:
            if not store.claim_slot(session=session, group_key=group.key, slot=now):
                return
            previous = store.load_alerts(session=session, group_key=group.key)
            for rule, result in zip(group.rules, results):
                health = self.health.setdefault(f"{group.key}/{rule.key}", RuleHealth())
                health.last_eval_at = now
                if isinstance(result, QueryError):
                    health.health, health.last_error = "err", str(result)
                    log.warning("rule %s: query failed: %s", rule.name, result)
                    continue
                before = previous.get(rule.key, {})
                try:
                    evaluation = evaluate(rule, result, now=now, previous=before, limit=group.limit)
                except EvaluationError as exc:
                    health.health, health.last_error = "err", str(exc)
                    log.warning("rule %s: %s", rule.name, exc)
                    continue
                health.health, health.last_error = "ok", ""
                store.save_alerts(session=session, group_key=group.key, rule_key=rule.key,
                                  before=before, after=evaluation.alerts)
                for transition in evaluation.transitions:
                    changed += self._act(session, group, rule, transition, now)
            session.commit()
        for rule in group.rules:
            self.health[f"{group.key}/{rule.key}"].duration = time.monotonic() - started
        self.hub.invalidate(sorted(set(changed)))

    def _query(self, rule: Rule, now: float) -> list[Sample] | QueryError:
        try:
            result = self.query(rule.expr, now)
        except QueryError as exc:
            if self.blind_since is None:
                self.blind_since = self.clock()
            return exc
        self.blind_since = None
        return result

    def notify_approval(self, session: Session, row: Any, *, now: float) -> None:
        """Queue the request's Slack message: posted when requested, updated when decided."""
        approval = store.approval_public(row)
        kind = "approval_requested" if row.status == "pending" else "approval_decided"
        store.enqueue(session=session, channel=self.settings.slack_channel, now=now,
                      message_key=f"approval:{row.id}", payload=self.message(
                          kind, approval=approval,
                          fallback_text=f"[{row.status}] {row.agent}: {row.action} (approval {row.id})"))

    def expire(self) -> None:
        """Release expired overrides and approvals; hold every agent in the fail-safe mode while blind."""
        now = self.clock()
        failsafe = self.settings.failsafe_mode
        with self.sessions() as session:
            expired = store.expire_approvals(session=session, now=now)
            for row in expired:
                self.notify_approval(session, row, now=now)
            changed = store.expire_sources(session=session, now=now)
            held = any(s.kind == SourceKind.failsafe
                       for s in store.active_sources(session=session, now=now))
            blind = self.blind_since is not None and now - self.blind_since >= self.settings.failsafe_after
            if failsafe is not None and blind and not held:
                changed += store.add_source(session=session, now=now, source=Source(
                    agent=ALL_AGENTS, mode=Mode[failsafe], kind=SourceKind.failsafe, ref="prometheus",
                    reason=f"Prometheus unreachable for {now - self.blind_since:.0f}s",  # type: ignore[operator]
                    actor="system:failsafe", since=now))
            elif held and not blind:
                changed += store.release_sources(session=session, agent=ALL_AGENTS, now=now,
                                                 kind=SourceKind.failsafe, actor="system:failsafe",
                                                 reason="Prometheus reachable again")
            session.commit()
        self.hub.invalidate(sorted(set(changed)))
        for row in expired:
            self.hub.signal(f"approval:{row.id}")

    def _act(self, session: Session, group: Group, rule: Rule, transition: Transition,
             now: float) -> list[str]:
        """What a transition does: a mode source on firing, a message on firing and on resolve."""
        alert = transition.alert
        labels = alert.label_map
        changed: list[str] = []
        if transition.after == State.firing and rule.takeover is not None:
            agent = labels.get("agent", ALL_AGENTS)
            changed = store.add_source(session=session, now=now, source=Source(
                agent=agent, mode=rule.takeover, kind=SourceKind.alert,
                ref=alert_ref(rule, alert.labels),
                reason=alert.annotations.get("summary", rule.name),
                actor=f"rule:{rule.name}", since=now))
        resolved = transition.before == State.firing and transition.after != State.firing
        if resolved and rule.takeover is not None and rule.release_on_resolve:
            changed = store.release_sources(
                session=session, agent=labels.get("agent", ALL_AGENTS), kind=SourceKind.alert,
                ref=alert_ref(rule, alert.labels), actor=f"rule:{rule.name}", now=now,
                reason="alert resolved (the rule releases on resolve)")
        if transition.after == State.firing or resolved:
            kind = "alert_firing" if transition.after == State.firing else "alert_resolved"
            message = self.render(kind, rule=rule, alert=alert, now=now)
            store.enqueue(session=session, channel=self.settings.slack_channel, payload=message,
                          message_key=f"alert:{group.key}:{rule.key}:{store.fingerprint(alert.labels)}:{alert.active_at}",
                          now=now)
        return changed

    def render(self, kind: str, *, rule: Rule, alert: Any, now: float) -> Message:
        labels = alert.label_map
        return self.message(
            kind, rule=rule, alert=alert, labels=labels, annotations=alert.annotations,
            status="resolved" if alert.state == State.inactive else alert.state.value,
            value=alert.value, now=now, agent=labels.get("agent", "all agents"),
            takeover=rule.takeover.name if rule.takeover else None,
            fallback_text=f"[{alert.state.value}] {rule.name} owner={labels.get('owner', '')} "
                          f"runbook={alert.annotations.get('runbook_url', '')}")

    def message(self, kind: str, **context: Any) -> Message:
        """Render `templates/<kind>.json.j2`; plain text from `fallback_text` if it fails."""
        return render_message(self.templates, kind, context)

    def wake_delivery(self) -> None:
        job = self.scheduler.get_job("deliver") if self.scheduler.running else None
        if job is not None:
            job.modify(next_run_time=datetime.now(timezone.utc))

    def deliver(self) -> int:
        with self._deliver_lock:
            return deliver(sessions=self.sessions, notifier=self.notifier, clock=self.clock)
