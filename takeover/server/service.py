"""The running service: APScheduler evaluates each rule group on its slots, acts, and delivers.

The shell around the pure core: it queries Prometheus, calls `evaluate`, and writes the new alert
state, the mode changes and the notifications they cause in one transaction per group slot.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from takeover import store
from takeover.config.mode import ALL_AGENTS, Mode
from takeover.config.yamlfile import ConfigError, Problem
from takeover.control.silence import silenced_by
from takeover.control.sources import Source, SourceKind
from takeover.notify.dispatcher import Dispatcher
from takeover.notify.routing import Routing
from takeover.notify.slack import IDENTITY, Delivery, Message, Notifier, render_message, template_env
from takeover.rules.evaluate import (
    RESOLVED_RETENTION,
    EvaluationError,
    Labels,
    Sample,
    State,
    Transition,
    evaluate,
)
from takeover.rules.format import Group, Rule, load_rules
from takeover.rules.query import QueryError, QueryFunc
from takeover.server.hub import TOKENS_SIGNAL, ControlHub
from takeover.server.metrics import Metrics
from takeover.server.replicas import ChangeFeed, Leadership
from takeover.server.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class RuleHealth:
    group: str = ""
    rule: str = ""
    health: str = "unknown"  # ok | err | unknown
    last_error: str = ""
    last_eval_at: float = 0.0
    duration: float = 0.0


LEAD_CHECK = 1.0  # seconds between leadership checks: the bound on a takeover after the leader dies
RECONCILE = 2.0  # seconds between a replica's comparisons of what it serves with the database
OVERRUN_REPORT = 60.0  # a job that keeps overrunning is reported at most this often
OVERRUNS_TO_REPORT = 10  # skipped runs within OVERRUN_REPORT seconds that make one report


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
                 query: QueryFunc, routing: Routing | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.groups = groups
        self.routing = routing or Routing(default_channel=settings.slack_channel)
        self.notifier = notifier
        self.query = query
        self.clock = clock
        self.engine = store.make_engine(settings.database_url, migrate=settings.auto_migrate)
        self.hub = ControlHub(self._load_documents)
        self.leadership = Leadership(settings.database_url)
        self.feed: ChangeFeed | None = None
        if not self.leadership.embedded:
            self.feed = ChangeFeed(settings.database_url,
                                   on_agents=lambda agents: self.hub.invalidate(agents, remote=True),
                                   on_signal=lambda key: self.hub.signal(key, remote=True))
            self.hub.publish, self.hub.publish_signal = self.feed.publish_agents, self.feed.publish_signal
        self.dispatcher = Dispatcher(sessions=self.sessions, routing=self.routing, render=self.message)
        self.templates = template_env(settings.templates)
        self.health: dict[str, RuleHealth] = {}
        self.scheduler = BackgroundScheduler(
            timezone=timezone.utc,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.scheduler.add_listener(self._overran, EVENT_JOB_MAX_INSTANCES)
        self._overruns: dict[str, list[float]] = {}
        self._reported: dict[str, float] = {}
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="query")
        self._slack_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="slack")
        self.term: int | None = None  # the fencing term while this process leads
        self._term_lock = threading.Lock()
        self.confirmed_at = time.monotonic()  # when this replica last proved its cache current
        self._revocations: tuple[int, float | None] | None = None
        self._reconciled_wall = clock()
        self._deliver_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self.blind_since: float | None = None  # first failed query since the last success
        self.last_query_error = ""
        self.metrics = Metrics()
        self.metrics.read_at_scrape(self._snapshot)
        self.hub.subscribe(lambda agents: self.metrics.mode_changes.inc(len(agents)))
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

    def _schedule(self, group: Group) -> None:
        offset = group_offset(group)
        first = slot_at(self.clock(), interval=group.interval, offset=offset) + group.interval
        self.scheduler.add_job(
            self.run_group, IntervalTrigger(seconds=group.interval,
                                            start_date=datetime.fromtimestamp(first, timezone.utc)),
            args=[group], id=f"group:{group.key}", name=f"evaluate {group.name}",
            replace_existing=True)

    def start(self) -> None:
        if self.feed is not None:
            self.feed.start()
        self.lead()
        self.scheduler.add_job(self.lead, IntervalTrigger(seconds=LEAD_CHECK), id="lead",
                               name="keep or take the leader lock")
        for group in self.groups:
            self._schedule(group)
        self.scheduler.add_job(self.dispatch, IntervalTrigger(seconds=self.settings.dispatch_interval),
                               id="dispatch", name="group alerts into messages")
        self.scheduler.add_job(self.deliver, IntervalTrigger(seconds=self.settings.deliver_interval),
                               id="deliver", name="deliver notifications")
        self.scheduler.add_job(self._expire_if_leader, IntervalTrigger(seconds=1), id="expire",
                               name="expire overrides and apply the fail-safe")
        if not self.leadership.embedded:
            self.scheduler.add_job(self.reconcile, IntervalTrigger(seconds=RECONCILE), id="reconcile",
                                   name="compare served documents with the database")
        self.scheduler.start()

    def lead(self) -> bool:
        """Keep or take leadership (a PostgreSQL advisory lock); only the leader evaluates,
        dispatches and delivers, each under the fencing term it takes when it starts to lead."""
        if not self.leadership.check():
            with self._term_lock:
                self.term = None
            return False
        had = self.term
        try:
            self._ensure_term()
        except SQLAlchemyError as exc:
            log.error("could not start a leader term (%s); giving the lock back", exc)
            self.leadership.resign()
            return False
        if had is None:
            self.wake("dispatch")
        return True

    def _take_term(self) -> None:
        """Bump the fencing term for this process (the caller holds `_term_lock`)."""
        with self.sessions() as session:
            self.term = store.new_term(session=session, holder=IDENTITY, now=self.clock())
            outage = store.prometheus_state(session=session)
            session.commit()
        # the outage clock is the database's: a new leader does not give a false all-clear
        self.blind_since = outage.failing_since
        log.info("leading as term %d: evaluating rules and delivering notifications%s", self.term,
                 f" (Prometheus failing since {outage.failing_since:.0f})" if outage.failing_since else "")

    def _ensure_term(self) -> int | None:
        """The term to fence leader work with; taken once (whichever job asks first) by a
        process that leads."""
        with self._term_lock:
            if self.term is None and self.leadership.leader:
                self._take_term()
            return self.term

    def _overran(self, event: JobSubmissionEvent) -> None:
        """A run skipped because the last one is still going (a woken job often is: harmless).
        Counted; reported in one line when it keeps happening."""
        self.metrics.job_overruns.labels(event.job_id).inc()
        now = time.monotonic()
        recent = [t for t in self._overruns.get(event.job_id, []) if t > now - OVERRUN_REPORT] + [now]
        self._overruns[event.job_id] = recent
        if len(recent) >= OVERRUNS_TO_REPORT and now - self._reported.get(event.job_id, -OVERRUN_REPORT) >= OVERRUN_REPORT:
            self._reported[event.job_id] = now
            job = self.scheduler.get_job(event.job_id)
            log.warning("job %r keeps overrunning its interval (%d skipped runs in %.0fs): it takes longer "
                        "than it is given (see takeover_job_overruns_total)", job.name if job else event.job_id,
                        len(recent), OVERRUN_REPORT)

    def _deposed(self, exc: store.Deposed) -> None:
        with self._term_lock:
            if exc.term is not None and exc.term != self.term:
                return  # an older term's work, already replaced
            log.error("stopped leader work: %s", exc)
            self.term = None
            self.leadership.resign()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.feed is not None:
            self.feed.stop()
        self.leadership.close()
        self._pool.shutdown(wait=True)
        self._slack_pool.shutdown(wait=True)
        self.engine.dispose()

    def reload(self, *, actor: str) -> list[Problem]:
        """Load the rule files again. A file that fails the check changes nothing and its errors
        are returned; otherwise changed groups are rescheduled, alerts of unchanged rules keep
        their state, and alerts of removed rules are resolved (their messages updated)."""
        try:
            groups = load_rules(self.settings.rules)
        except ConfigError as exc:
            log.error("rule reload refused; the running rules stay:\n%s", exc)
            return exc.errors
        with self._reload_lock:
            old = {g.key: g for g in self.groups}
            new = {g.key: g for g in groups}
            for key, group in old.items():
                if new.get(key) != group and self.scheduler.get_job(f"group:{key}"):
                    self.scheduler.remove_job(f"group:{key}")
            self.groups = groups
            self._register_agents()
            if self.scheduler.running:
                for key, group in new.items():
                    if old.get(key) != group:
                        self._schedule(group)
            self._resolve_removed(actor=actor)
        log.info("rules reloaded: %d groups, %d rules", len(groups), sum(len(g.rules) for g in groups))
        return []

    def _resolve_removed(self, *, actor: str | None) -> None:
        """Alerts of rules that are gone: firing ones resolve (so their messages are updated),
        the rest are forgotten once the dispatcher has had them for the retention time."""
        now = self.clock()
        live = {(g.key, r.key) for g in self.groups for r in g.rules}
        with self.sessions() as session:
            for row in store.list_alerts(session=session):
                if (row.group_key, row.rule_key) in live or row.group_key == store.META_GROUP:
                    continue
                if row.state == State.firing.value:
                    row.state, row.resolved_at = State.inactive.value, now  # the dispatcher reports it
                    session.add(row)
                elif row.state == State.pending.value or (row.resolved_at or now) < now - RESOLVED_RETENTION:
                    session.delete(row)
            if actor is not None:
                store.record_audit(session=session, now=now, actor=actor, action="rules.reload",
                                   subject="rules", after={"groups": [g.key for g in self.groups]})
            session.commit()
        keys = {f"{g.key}/{r.key}" for g in self.groups for r in g.rules}
        self.health = {k: v for k, v in self.health.items() if k in keys}
        self.wake_delivery()

    def rules_status(self) -> list[dict[str, Any]]:
        """Groups and rules with health, last error, last evaluation and its duration
        (the shape of Prometheus's /api/v1/rules, plus takeover's fields)."""
        out = []
        for group in self.groups:
            rules: list[dict[str, Any]] = []
            for rule in group.rules:
                h = self.health.get(f"{group.key}/{rule.key}", RuleHealth())
                rules.append({"name": rule.name, "query": rule.expr, "duration": rule.for_,
                              "keepFiringFor": rule.keep_firing_for, "labels": dict(rule.labels),
                              "annotations": dict(rule.annotations), "health": h.health,
                              "lastError": h.last_error, "lastEvaluation": h.last_eval_at,
                              "evaluationTime": h.duration, "type": "alerting",
                              "takeover": rule.takeover.name if rule.takeover else None})
            out.append({"name": group.name, "file": group.file, "interval": group.interval,
                        "limit": group.limit, "rules": rules,
                        "lastEvaluation": max((float(r["lastEvaluation"]) for r in rules), default=0.0),
                        "evaluationTime": max((float(r["evaluationTime"]) for r in rules), default=0.0)})
        return out

    def run_group(self, group: Group) -> None:
        """The scheduled job: evaluate the group at its current slot (on the leader only)."""
        if not self.leadership.leader:
            return
        slot = slot_at(self.clock() + 0.001, interval=group.interval, offset=group_offset(group))
        try:
            self.evaluate_group(group, now=slot)
        except store.Deposed as exc:
            self._deposed(exc)
            return
        self.wake("dispatch")

    def dispatch(self) -> int:
        """One grouping pass: alert state → messages in the outbox; returns how many."""
        if not self.leadership.leader:
            return 0
        try:
            queued = self.dispatcher.run(now=self.clock(), term=self._ensure_term())
        except store.Deposed as exc:
            self._deposed(exc)
            return 0
        if queued:
            self.wake_delivery()
        return queued

    def evaluate_group(self, group: Group, *, now: float) -> None:
        """Evaluate every rule of `group` at `now` and commit the outcome as one transaction."""
        started = time.monotonic()
        results = list(self._pool.map(lambda r: self._query(r, now), group.rules))
        changed: list[str] = []
        term = self._ensure_term()
        with self.sessions() as session:
            store.fence(session=session, term=term)
            if not store.claim_slot(session=session, group_key=group.key, slot=now):
                return
            previous = store.load_alerts(session=session, group_key=group.key)
            for rule, result in zip(group.rules, results):
                health = self.health.setdefault(f"{group.key}/{rule.key}", RuleHealth(group.name, rule.name))
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
        elapsed = time.monotonic() - started
        self.metrics.eval_duration.labels(group.name).observe(elapsed)
        for rule in group.rules:
            health = self.health[f"{group.key}/{rule.key}"]
            health.duration = elapsed
            if health.health == "err":
                self.metrics.eval_failures.labels(group.name).inc()
        self.hub.invalidate(sorted(set(changed)))

    def _query(self, rule: Rule, now: float) -> list[Sample] | QueryError:
        try:
            result = self.query(rule.expr, now)
        except QueryError as exc:
            if self.blind_since is None:
                self.blind_since = self.clock()
            self.last_query_error = str(exc)
            return exc
        self.blind_since = None
        return result

    def mode_changed(self, session: Session, scope: str, before: Mode, after: Mode, actor: str,
                     reason: str, now: float) -> None:
        """Queue the "mode changed" message, in the transaction of the change."""
        who = "all agents" if scope == ALL_AGENTS else scope
        store.enqueue(session=session, channel=self.settings.slack_channel, now=now,
                      message_key=f"mode:{scope}:{now}:{after.name}:{actor}", payload=self.message(
                          "mode_changed", agent=who, before=before.name, after=after.name, actor=actor,
                          reason=reason, fallback_text=f"{who}: {before.name} → {after.name} by {actor}: {reason}"))
        self.wake_delivery()

    def notify_approval(self, session: Session, row: Any, *, now: float) -> None:
        """Queue the request's Slack message: posted when requested, updated when decided."""
        approval = store.approval_public(row)
        kind = "approval_requested" if row.status == "pending" else "approval_decided"
        store.enqueue(session=session, channel=self.settings.slack_channel, now=now,
                      message_key=f"approval:{row.id}", payload=self.message(
                          kind, approval=approval,
                          fallback_text=f"[{row.status}] {row.agent}: {row.action} (approval {row.id})"))

    def _meta_alert(self, session: Session, now: float, blind_since: float | None) -> None:
        """The built-in alert on takeover itself: Prometheus cannot be queried. It pages the
        meta-alert owner through the same grouping and delivery as every other alert."""
        blind_for = now - blind_since if blind_since is not None else 0.0
        firing = blind_for >= self.settings.meta_alert_after
        labels = {"alertname": "TakeoverPrometheusUnreachable", "owner": self.settings.meta_alert_owner,
                  "severity": "page"}
        alert = store.meta_alert(session=session)
        if firing and (alert is None or alert.state != State.firing.value):
            store.save_meta_alert(session=session, labels=labels, now=now, firing=True, annotations={
                "summary": f"takeover cannot query Prometheus at {self.settings.prometheus_url}",
                "runbook_url": "https://github.com/takeover/takeover#when-prometheus-is-unreachable",
                "first_check": "curl the Prometheus URL from takeover's host; check GET /v1/rules for the error"})
        elif not firing and alert is not None and alert.state == State.firing.value:
            store.save_meta_alert(session=session, labels=labels, now=now, firing=False, annotations={})
        elif alert is not None and alert.state == State.inactive.value and \
                (alert.resolved_at or now) < now - RESOLVED_RETENTION:
            session.delete(alert)

    def _expire_if_leader(self) -> None:
        if self.leadership.leader:
            try:
                self.expire()
            except store.Deposed as exc:
                self._deposed(exc)

    def expire_approvals(self) -> None:
        """Turn pending approvals past their expiry into `expired` (safe on any replica)."""
        now = self.clock()
        with self.sessions() as session:
            expired = store.expire_approvals(session=session, now=now)
            for row in expired:
                self.notify_approval(session, row, now=now)
            session.commit()
        for row in expired:
            self.hub.signal(f"approval:{row.id}")

    def expire(self) -> None:
        """The leader's periodic job: expired approvals and overrides, the fail-safe mode while
        Prometheus is unreachable, and the meta-alert about it."""
        self.expire_approvals()
        now = self.clock()
        failsafe = self.settings.failsafe_mode
        term = self._ensure_term()
        blind_since = self.blind_since
        with self.sessions() as session:
            store.fence(session=session, term=term)
            outage = store.prometheus_state(session=session)
            if outage.failing_since != blind_since:
                store.save_prometheus_state(session=session, failing_since=blind_since, now=now,
                                            last_error=self.last_query_error if blind_since else "")
            changed = store.expire_sources(session=session, now=now, on_change=self.mode_changed)
            held = any(s.kind == SourceKind.failsafe
                       for s in store.active_sources(session=session, now=now))
            blind = blind_since is not None and now - blind_since >= self.settings.failsafe_after
            if failsafe is not None and blind and not held:
                changed += store.add_source(session=session, now=now, on_change=self.mode_changed, source=Source(
                    agent=ALL_AGENTS, mode=Mode[failsafe], kind=SourceKind.failsafe, ref="prometheus",
                    reason=f"Prometheus unreachable for {now - blind_since:.0f}s",  # type: ignore[operator]
                    actor="system:failsafe", since=now))
            elif held and not blind:
                changed += store.release_sources(session=session, agent=ALL_AGENTS, now=now,
                                                 on_change=self.mode_changed,
                                                 kind=SourceKind.failsafe, actor="system:failsafe",
                                                 reason="Prometheus reachable again")
            self._meta_alert(session, now, blind_since)
            session.commit()
        self.hub.invalidate(sorted(set(changed)))

    def _act(self, session: Session, group: Group, rule: Rule, transition: Transition,
             now: float) -> list[str]:
        """What a transition does to agents: a mode source on firing (unless a silence says
        to hold the takeover too), a release on resolve when the rule opts in. Messages are
        the dispatcher's job: it reads the alert state this transaction writes."""
        alert = transition.alert
        labels = alert.label_map
        changed: list[str] = []
        if transition.after == State.firing and rule.takeover is not None:
            muted = silenced_by(labels, store.active_silences(session=session, now=now), now)
            if muted is not None and muted.suppress_takeover:
                log.info("alert %s fired; takeover held back by silence %d", rule.name, muted.id)
                return []
            agent = labels.get("agent", ALL_AGENTS)
            changed = store.add_source(session=session, now=now, on_change=self.mode_changed, source=Source(
                agent=agent, mode=rule.takeover, kind=SourceKind.alert,
                ref=alert_ref(rule, alert.labels),
                reason=alert.annotations.get("summary", rule.name),
                actor=f"rule:{rule.name}", since=now))
        resolved = transition.before == State.firing and transition.after != State.firing
        if resolved and rule.takeover is not None and rule.release_on_resolve:
            changed = store.release_sources(
                session=session, agent=labels.get("agent", ALL_AGENTS), kind=SourceKind.alert,
                on_change=self.mode_changed,
                ref=alert_ref(rule, alert.labels), actor=f"rule:{rule.name}", now=now,
                reason="alert resolved (the rule releases on resolve)")
        return changed

    def message(self, kind: str, **context: Any) -> Message:
        """Render `templates/<kind>.json.j2`; plain text from `fallback_text` if it fails."""
        return render_message(self.templates, kind, context)

    def wake_delivery(self) -> None:
        self.wake("deliver")

    def wake(self, job_id: str) -> None:
        """Run a periodic job now instead of at its next tick."""
        job = self.scheduler.get_job(job_id) if self.scheduler.running else None
        if job is not None:
            job.modify(next_run_time=datetime.now(timezone.utc))

    def deliver(self) -> int:
        """One delivery pass over the outbox; returns how many notifications were sent."""
        term = self._ensure_term() if self.leadership.leader else None
        if term is None:
            return 0
        delivery = Delivery(sessions=self.sessions, notifier=self.notifier, term=term,
                            settle=self.notifier.settle, clock=self.clock, pool=self._slack_pool)
        try:
            with self._deliver_lock:
                sent, failed = delivery.run()
        except store.Deposed as exc:
            self._deposed(exc)
            return 0
        self.metrics.notifications_sent.inc(sent)
        self.metrics.notifications_failed.inc(failed)
        return sent

    def readiness(self) -> dict[str, tuple[bool, str]]:
        """What /readyz reports: each check and why."""
        checks: dict[str, tuple[bool, str]] = {}
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            checks["database"] = (True, "reachable")
        except Exception as exc:  # noqa: BLE001 - any database failure means not ready
            checks["database"] = (False, f"{type(exc).__name__}: {exc}"[:300])
        checks["rules"] = (True, f"{len(self.groups)} groups loaded")
        blind_since = self._outage_since()
        if blind_since is not None:
            checks["prometheus"] = (False, f"queries failing for {self.clock() - blind_since:.0f}s"
                                           + ("" if self.leadership.leader else " (as the leader reports)"))
        elif self.leadership.leader:
            checks["prometheus"] = (True, "last query succeeded" if self.health else "no queries yet")
        else:
            checks["prometheus"] = (True, "the leader's queries succeed")
        stale = self.hub.stale
        checks["current"] = (stale is None, stale or "served documents match the database")
        return checks

    def _outage_since(self) -> float | None:
        """Since when Prometheus queries fail: the leader knows; a follower asks the database."""
        if self.leadership.leader:
            return self.blind_since
        try:
            with self.sessions() as session:
                return store.prometheus_state(session=session).failing_since
        except SQLAlchemyError:
            return None

    def reconcile(self) -> None:
        """A replica's safety net under the change feed: compare the versions it serves, the
        token revocations and decided approvals with the database, and catch up on anything a
        lost notification hid. A replica that cannot confirm it is current for longer than
        `replica_stale_after` refuses to serve control documents (agents then fail closed)."""
        since = self._reconciled_wall - 2 * RECONCILE
        started = self.clock()
        try:
            with self.sessions() as session:
                versions = store.agent_versions(session=session)
                revocations = store.revocation_mark(session=session)
                decided = store.decided_since(session=session, since=since)
        except SQLAlchemyError as exc:
            deaf = time.monotonic() - self.confirmed_at
            if deaf > self.settings.replica_stale_after and self.hub.stale is None:
                log.error("cannot confirm this replica's control documents are current for %.0fs (%s): "
                          "refusing to serve them until the database answers", deaf, type(exc).__name__)
                self.hub.set_stale(f"cannot reach the database for {deaf:.0f}s: this replica may be stale")
            return
        missed = [agent for agent, version in self.hub.versions().items() if versions.get(agent) != version]
        if missed:
            log.warning("caught up on %d agent(s) changed without a notification: %s", len(missed),
                        ", ".join(missed[:5]))
            self.hub.invalidate(missed, remote=True)
        if self._revocations is not None and revocations != self._revocations:
            self.hub.signal(TOKENS_SIGNAL, remote=True)
        self._revocations = revocations
        for approval_id in decided:
            self.hub.signal(f"approval:{approval_id}", remote=True)
        self._reconciled_wall = started
        self.confirmed_at = time.monotonic()
        if self.hub.stale is not None:
            log.info("the database answers again: serving control documents")
            self.hub.set_stale(None)

    def _snapshot(self) -> dict[str, Any]:
        with self.sessions() as session:
            counts = store.snapshot_counts(session=session)
        return {**counts, "waiting": self.hub.waiting, "leader": 1.0 if self.leadership.leader else 0.0,
                "prometheus_up": 0.0 if self._outage_since() is not None else 1.0,
                "health": {(h.group, h.rule): h.health != "err" for h in self.health.values()}}
