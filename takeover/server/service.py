"""The running service: the wiring of one `takeover serve` process.

It owns the engine, the control hub, leadership, the share of rule groups and the change feed
(NOTIFY between PostgreSQL replicas; on SQLite, the watch of the file's data version),
and schedules the jobs (APScheduler) that call the operations of `takeover.app`: each group this
replica evaluates, on its slots (queries first, then one transaction that claims the slot), and
the leader's dispatch pass, delivery and outage pass; on PostgreSQL replicas also the beat that
shares the groups and the reconcile pass that keeps what it serves current.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor as APSThreadPool
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from takeover import store
from takeover.app import alerts, approvals, outage, releases
from takeover.app import policies as policy_ops
from takeover.app.auditcheck import FULL_EVERY
from takeover.app.tokens import TOKENS_SIGNAL
from takeover.config.mode import Mode
from takeover.config.yamlfile import ConfigError, Problem
from takeover.control.policy import Policy
from takeover.control.policyfile import load_policies
from takeover.notify.alertmanager import AlertmanagerSender
from takeover.notify.delivery import IDENTITY, Delivery
from takeover.notify.dispatch import Dispatcher
from takeover.notify.retry import Backoff, RateLimits
from takeover.notify.routing import Routing
from takeover.notify.slack import Notifier
from takeover.rules.format import Group, load_rules
from takeover.rules.group import group_offset, query_group, slot_at
from takeover.rules.query import QueryError, QueryFunc
from takeover.server import rulestate
from takeover.server.hub import ControlHub
from takeover.server.leading import Leadership
from takeover.server.metrics import Metrics
from takeover.server.operations import build_app
from takeover.server.replicas import ChangeFeed
from takeover.server.rulestate import RuleHealth
from takeover.server.settings import Settings
from takeover.server.sharing import BEAT, Sharing
from takeover.server.sqlitewatch import DataVersionWatch, database_file
from takeover.store.models import GroupRow

log = logging.getLogger(__name__)

LEAD_CHECK = 1.0  # seconds between lease renewals (or attempts to take it)
RECONCILE = 2.0  # seconds between a replica's comparisons of what it serves with the database
WATCH = 1.0  # seconds between checks that this replica can still vouch for what it serves
READINESS_TIMEOUT = 2.0  # seconds /readyz waits for the database
OVERRUN_REPORT = 60.0  # a job that keeps overrunning is reported at most this often
OVERRUNS_TO_REPORT = 10  # skipped runs within OVERRUN_REPORT seconds that make one report
SCHEDULER_THREADS = 32  # APScheduler's default is 10
RELEASES_SIGNAL = "wake:releases"  # a rollback alert fired on some replica: the leader analyses now


class Service:
    """Owns the database engine, the control cache and the scheduler for one process."""

    def __init__(self, settings: Settings, *, groups: list[Group], notifier: Notifier,
                 query: QueryFunc, routing: Routing | None = None, policies: tuple[Policy, ...] = (),
                 clock: Callable[[], float] = time.time) -> None:
        self.settings, self.groups, self.notifier, self.query, self.clock = settings, groups, notifier, query, clock
        self.routing = routing or Routing(default_channel=settings.slack_channel)
        self.embedded = not settings.database_url.startswith("postgresql")  # one process, no replicas
        self.engine = store.make_engine(settings.database_url, migrate=settings.auto_migrate,
                                        name=f"takeover {IDENTITY}")
        self.hub = ControlHub(self._load_documents, confirm=None if self.embedded else self.confirm,
                              bound=settings.replica_stale_after)
        self.leadership = Leadership(embedded=self.embedded, sessions=self.sessions, clock=clock,
                                     on_term=self._inherit_outage)
        self.sharing = Sharing(embedded=self.embedded, identity=IDENTITY, sessions=self.sessions)
        self.feed: ChangeFeed | None = None
        self.data_watch: DataVersionWatch | None = None
        if self.embedded and (path := database_file(settings.database_url)) is not None:
            # the CLI or another process wrote the file: served within DataVersionWatch's interval
            self.data_watch = DataVersionWatch(path, on_change=self.catch_up)
        if not self.embedded:
            self.feed = ChangeFeed(settings.database_url,
                                   on_agents=lambda agents: self.hub.invalidate(agents, remote=True),
                                   on_signal=lambda key: self.hub.signal(key, remote=True),
                                   name=f"takeover {IDENTITY}")
            self.hub.publish, self.hub.publish_signal = self.feed.publish_agents, self.feed.publish_signal
        self.metrics = Metrics()
        self.app = build_app(settings, routing=self.routing, policies=policies, sessions=self.sessions, clock=clock,
                             changed=self.hub.invalidate, signal=self.hub.signal, wake=self.wake,
                             decided_after=self.metrics.decision_latency.observe,
                             shadow_decided=lambda policy, would: self.metrics.shadow_decisions.labels(policy, would).inc())
        self.watch = outage.Watch(settings.prometheus_url, Mode[settings.failsafe_mode] if settings.failsafe_mode
                                  else None, settings.failsafe_after, settings.meta_alert_after,
                                  settings.meta_alert_owner)
        self.dispatcher = Dispatcher(sessions=self.sessions, routing=self.routing, render=self.app.messages.render)
        self.alertmanagers = AlertmanagerSender(settings.alertmanager_url, self.sessions, public_url=settings.public_url)
        # group jobs mostly wait on Prometheus: enough threads that a few slow groups do not
        # hold back the rest (or the leader's jobs) past their slots
        self.scheduler = BackgroundScheduler(
            timezone=timezone.utc, executors={"default": APSThreadPool(SCHEDULER_THREADS)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.scheduler.add_listener(self._overran, EVENT_JOB_MAX_INSTANCES)
        self._overruns: dict[str, list[float]] = {}
        self._reported: dict[str, float] = {}
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="query")
        self._slack_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="slack")
        self._confirm_lock = threading.Lock()
        self._db_check = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readiness")
        self._revocations: tuple[int, float | None] | None = None
        self._reconciled_wall = clock()
        self._deliver_lock = threading.Lock()
        self._rate_limits = RateLimits()  # Slack's Retry-After, for every delivery pass of this process
        self._backoff = Backoff(cap=settings.slack_retry_max)
        self._reload_lock = threading.Lock()
        self.blind_since: float | None = None  # first failed query since the last success
        self.queried = False  # whether this process has asked Prometheus anything yet
        self._beat_failing = False
        self._unconfirmed = False  # reported that the database cannot confirm what is served
        self.last_query_error = ""
        self.metrics.read_at_scrape(self._snapshot)
        self.hub.subscribe(lambda agents: self.metrics.mode_changes.inc(len(agents)))
        self.hub.on_signal(RELEASES_SIGNAL, lambda: self.wake("releases"))
        alerts.register_agents(self.app, self.groups)

    @property
    def health(self) -> dict[str, RuleHealth]:
        """Every loaded rule's health, as its last evaluation (on any replica) left it."""
        return rulestate.health(self.groups, self._group_rows())

    def _group_rows(self) -> dict[str, GroupRow]:
        with self.sessions() as session:
            return store.group_rows(session=session)

    @property
    def term(self) -> int | None:
        return self.leadership.current

    def sessions(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _load_documents(self, agents: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self.sessions() as session:
            return store.control_documents(session=session, agents=agents, now=self.clock())

    def _inherit_outage(self, failing_since: float | None) -> None:
        self.blind_since = failing_since
        self.sharing.inherit(failing_since)

    # ------------------------------------------------------------ scheduling

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
        if self.data_watch is not None:
            self.data_watch.start()
            self.catch_up()  # what is in the database now is the baseline the watch compares with
        self.lead()
        self.beat()
        jobs: list[tuple[Callable[[], Any], float, str, str]] = [
            (self.lead, LEAD_CHECK, "lead", "renew or take the leader lease"),
            (self.beat, BEAT, "beat", "share the rule groups among the live replicas"),
            (self.dispatch, self.settings.dispatch_interval, "dispatch", "group alerts into messages"),
            (self.deliver, self.settings.deliver_interval, "deliver", "deliver notifications"),
            (self._expire_if_leader, 1.0, "expire", "expire overrides and apply the fail-safe"),
            (self.analyse_releases, self.settings.release_interval, "releases", "release analysis: step or roll back"),
            (self.verify_audit, FULL_EVERY, "audit", "walk the whole audit chain"),
        ]
        if self.settings.alertmanager_url:
            jobs.append((self.send_to_alertmanagers, self.settings.dispatch_interval, "alertmanager",
                         "post takeover's alerts to Alertmanager"))
        if not self.embedded:
            jobs.append((self.reconcile, RECONCILE, "reconcile", "compare served documents with the database"))
            jobs.append((self.watch_freshness, WATCH, "freshness", "wake long-polls that must vouch again"))
        for func, seconds, job_id, name in jobs:
            self.scheduler.add_job(func, IntervalTrigger(seconds=seconds), id=job_id, name=name)
        for group in self.groups:
            self._schedule(group)
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        try:
            self.sharing.leave()
        except SQLAlchemyError as exc:
            log.warning("could not tell the other replicas this one stops (%s): they take its groups "
                        "when its beats stop", exc)
        if self.feed is not None:
            self.feed.stop()
        if self.data_watch is not None:
            self.data_watch.stop()
        self.leadership.release()
        self._pool.shutdown(wait=True)
        self._db_check.shutdown(wait=False)
        self._slack_pool.shutdown(wait=True)
        self.engine.dispose()

    def wake(self, job_id: str) -> None:
        """Run a periodic job now instead of at its next tick."""
        job = self.scheduler.get_job(job_id) if self.scheduler.running else None
        if job is not None:
            job.modify(next_run_time=datetime.now(timezone.utc))

    def wake_delivery(self) -> None:
        self.wake("deliver")

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

    # ------------------------------------------------------------ the leader's jobs

    def lead(self) -> bool:
        """Renew or take the leader lease (`takeover.server.leading`); only the leader
        dispatches, delivers, runs the fail-safe and release analysis, each fenced by its term."""
        had = self.leadership.current
        leads = self.leadership.check()
        if leads and had is None:
            self.wake("dispatch")
        return leads

    def _as_leader(self, work: Callable[[int | None], Any], default: Any) -> Any:
        """Run leader work fenced by this process's term; a newer term ends ours."""
        term = self.leadership.term()
        if term is None:
            return default
        try:
            return work(term)
        except store.Deposed as exc:
            self.leadership.deposed(exc)
            return default

    def beat(self) -> None:
        """Tell the other replicas this one is alive and take its share of the rule groups."""
        try:
            self.sharing.beat([g.key for g in self.groups], queried=self.queried, failing_since=self.blind_since,
                              last_error=self.last_query_error, prune=self.leadership.leader)
        except SQLAlchemyError as exc:
            if not self._beat_failing:
                log.warning("cannot beat (%s): this replica keeps evaluating its groups; the others take "
                            "them over if it stays unseen", type(exc).__name__)
            self._beat_failing = True
            return
        if self._beat_failing:
            log.info("beating again")
        self._beat_failing = False

    def run_group(self, group: Group) -> None:
        """The scheduled job: evaluate the group at its current slot, if this replica evaluates it."""
        if not self.sharing.owns(group.key):
            return
        slot = slot_at(self.clock() + 0.001, interval=group.interval, offset=group_offset(group))
        try:
            self.evaluate_group(group, now=slot)
        except SQLAlchemyError as exc:
            log.error("group %s: the slot at %.3f could not be committed (%s); the next slot is evaluated "
                      "as usual", group.name, slot, exc)
            return
        self.wake("dispatch")

    def evaluate_group(self, group: Group, *, now: float) -> None:
        """Query every rule of `group` at `now` (concurrently), then commit the outcome as one
        transaction that claims the slot (`app.alerts.record_slot`)."""
        started = time.monotonic()
        answers = query_group(group, at=now, query=self._query, mapper=self._pool.map)
        elapsed = time.monotonic() - started
        claimed = alerts.record_slot(self.app, group, at=now, answers=answers, replica=self.sharing.identity,
                                     duration=elapsed)
        if claimed is None:
            return  # this slot was evaluated already (here before a restart, or by another replica)
        slot, before = claimed
        if before and now - before > 1.5 * group.interval:
            self.metrics.missed_slots.labels(group.name).inc(round((now - before) / group.interval) - 1)
        if any(r.rule.labels.get("takeover") == "rollback" and r.firing() for r in slot.rules):
            self.wake("releases")  # a rollback alert rolls its agent's release back at once,
            self.hub.signal(RELEASES_SIGNAL)  # wherever the leader is
        self.metrics.eval_duration.labels(group.name).observe(elapsed)
        failed = len(slot.errors)
        if failed:
            self.metrics.eval_failures.labels(group.name).inc(failed)

    def _query(self, expr: str, at: float) -> list[Any]:
        """The query, keeping the outage clock: since when every query has failed."""
        self.queried = True
        try:
            result = self.query(expr, at)
        except QueryError as exc:
            if self.blind_since is None:
                self.blind_since = self.clock()
            self.last_query_error = str(exc)
            raise
        self.blind_since = None
        return result

    def dispatch(self) -> int:
        """One grouping pass: alert state → messages in the outbox; returns how many."""
        queued: int = self._as_leader(lambda term: self.dispatcher.run(now=self.clock(), term=term), 0)
        if queued:
            self.wake_delivery()
        return queued

    def deliver(self) -> int:
        """One delivery pass over the outbox; returns how many notifications were sent."""
        def work(term: int | None) -> int:
            if term is None:
                return 0
            with self._deliver_lock:
                sent, failed = Delivery(sessions=self.sessions, notifier=self.notifier, term=term,
                                        settle=self.notifier.settle, clock=self.clock, pool=self._slack_pool,
                                        default_channel=self.routing.default_channel,
                                        public_url=self.settings.public_url, backoff=self._backoff,
                                        limits=self._rate_limits,
                                        leading=lambda: self.leadership.term() == term).run()
            self.metrics.notifications_sent.inc(sent)
            self.metrics.notifications_failed.inc(failed)
            return sent
        result: int = self._as_leader(work, 0)
        return result

    def send_to_alertmanagers(self) -> int:
        """The leader posts takeover's alerts to the configured Alertmanagers (its own job: a slow
        Alertmanager never holds up Slack delivery); a follower forgets what it sent, so when it
        leads it sends everything once."""
        if not self.leadership.leader:
            self.alertmanagers.sent.clear()
            return 0
        return self.alertmanagers.run(now=self.clock())

    def _expire_if_leader(self) -> None:
        if self.leadership.leader:
            self.expire()

    def expire(self) -> None:
        """The leader's periodic job: expired approvals and overrides, the fail-safe mode while
        Prometheus is unreachable, and the meta-alert about it."""
        approvals.expire(self.app)
        approvals.escalate(self.app)
        blind_since = self.sharing.failing_since(self.blind_since, queried=self.queried or self.blind_since is not None)
        self._as_leader(lambda term: outage.leader_pass(self.app, self.watch, term=term, blind_since=blind_since,
                                                        last_error=self.last_query_error), None)

    def analyse_releases(self) -> int:
        """The leader's release analysis pass: checks, rollback alerts, promotion gates."""
        moved: int = self._as_leader(lambda term: releases.tick(self.app, query=self.query, term=term), 0)
        return moved

    def verify_audit(self) -> None:
        """The scheduled walk of the whole audit chain (a view checks only what is new)."""
        with self.sessions() as session:
            checked, broken = self.app.audit.verify(session, now=self.clock(), full=True)
        if broken is not None:
            log.error("the audit chain is broken at row %s (%s by %s): %d rows before it verify",
                      broken.id, broken.action, broken.actor, checked)

    # ------------------------------------------------------------ rules

    def reload(self, *, actor: str) -> list[Problem]:
        """Load the rule files again. A file that fails the check changes nothing and its errors
        are returned; otherwise changed groups are rescheduled, alerts of unchanged rules keep
        their state, and alerts of removed rules are resolved (their messages updated)."""
        try:
            groups = load_rules(self.settings.rules, defaults=self.routing.rule_defaults)
            policies = load_policies(self.settings.policies)
        except ConfigError as exc:
            log.error("rule reload refused; the running rules and policies stay:\n%s", exc)
            return exc.errors
        policy_ops.reloaded(self.app, policies, actor=actor)
        with self._reload_lock:
            old = {g.key: g for g in self.groups}
            new = {g.key: g for g in groups}
            for key, group in old.items():
                if new.get(key) != group and self.scheduler.get_job(f"group:{key}"):
                    self.scheduler.remove_job(f"group:{key}")
            self.groups = groups
            alerts.register_agents(self.app, groups)
            if self.scheduler.running:
                for key, group in new.items():
                    if old.get(key) != group:
                        self._schedule(group)
            alerts.resolve_removed(self.app, groups, actor=actor)
        self.beat()  # new groups get their evaluator now
        log.info("rules reloaded: %d groups, %d rules", len(groups), sum(len(g.rules) for g in groups))
        return []

    def rules_status(self) -> list[dict[str, Any]]:
        return rulestate.status(self.groups, self._group_rows(), self.sharing.evaluator)

    # ------------------------------------------------------------ replicas and health

    def confirm(self) -> None:
        """Compare the versions this replica serves, the token revocations and decided approvals
        with the database and catch up on anything a lost notification hid; then the hub may
        vouch for its documents again (as of the moment before the read). Raises when the
        database does not answer."""
        with self._confirm_lock:
            started = time.monotonic()
            self._catch_up(expected=False)
            was_stale = not self.hub.fresh()
            self.hub.confirmed(started)
        if was_stale and self._unconfirmed:
            log.info("the database confirms this replica's control documents again: serving them")
        self._unconfirmed = False

    def catch_up(self) -> None:
        """Another process wrote the database (the SQLite watch saw it): what `confirm` does
        after a lost notification — changed documents, token revocations, decided approvals."""
        with self._confirm_lock:
            self._catch_up(expected=True)

    def _catch_up(self, *, expected: bool) -> None:
        """The one path for "something changed elsewhere": compare the versions served, the
        token revocations and decided approvals with the database; invalidate, drop cached
        tokens and wake waiters for what differs. `expected`: the change feed itself sent us
        here (the SQLite watch), so a difference is news, not a lost notification."""
        since, wall = self._reconciled_wall - 2 * RECONCILE, self.clock()
        with self.sessions() as session:
            versions = store.agent_versions(session=session)
            revocations = store.revocation_mark(session=session)
            decided = store.decided_since(session=session, since=since)
        missed = [agent for agent, version in self.hub.versions().items() if versions.get(agent) != version]
        if missed:
            (log.debug if expected else log.warning)(
                "caught up on %d agent(s) changed without a notification: %s", len(missed), ", ".join(missed[:5]))
            self.hub.invalidate(missed, remote=True)
        if self._revocations is not None and revocations != self._revocations:
            self.hub.signal(TOKENS_SIGNAL, remote=True)
        self._revocations = revocations
        for approval_id in decided:
            self.hub.signal(f"approval:{approval_id}", remote=True)
        self._reconciled_wall = wall

    def reconcile(self) -> None:
        """The scheduled `confirm`: a replica's safety net under the change feed."""
        try:
            self.confirm()
        except SQLAlchemyError as exc:
            if not self.hub.fresh() and not self._unconfirmed:
                self._unconfirmed = True
                log.error("cannot confirm this replica's control documents are current for %.0fs (%s): "
                          "control polls get 503 until the database answers", self.hub.age(), type(exc).__name__)
            self.hub.alarm()

    def watch_freshness(self) -> None:
        """Past the bound without a confirmation (the reconcile job may itself be stuck on the
        database), waiting long-polls vouch again: a current document or 503, not a silence."""
        if not self.hub.fresh():
            self.hub.alarm()

    def readiness(self) -> dict[str, tuple[bool, str]]:
        """What /readyz reports: each check and why. Nothing here waits on the database for
        longer than READINESS_TIMEOUT."""
        checks: dict[str, tuple[bool, str]] = {}
        try:
            self._db_check.submit(self._ping).result(timeout=READINESS_TIMEOUT)
            checks["database"] = (True, "reachable")
        except TimeoutError:
            checks["database"] = (False, f"no answer within {READINESS_TIMEOUT:g}s")
        except Exception as exc:  # noqa: BLE001 - any database failure means not ready
            checks["database"] = (False, f"{type(exc).__name__}: {exc}"[:300])
        checks["rules"] = (True, f"{len(self.groups)} groups loaded")
        blind_since = self._outage_since() if checks["database"][0] or self.leadership.leader else None
        if blind_since is not None:
            checks["prometheus"] = (False, f"queries failing for {self.clock() - blind_since:.0f}s"
                                           + ("" if self.leadership.leader else " (as the leader reports)"))
        elif self.leadership.leader:
            checks["prometheus"] = (True, "last query succeeded" if self.queried else "no queries yet")
        else:
            checks["prometheus"] = (True, "the leader's queries succeed")
        if self.embedded:
            checks["current"] = (True, "served documents are this process's own")
        elif self.hub.fresh():
            checks["current"] = (True, f"served documents match the database (confirmed {self.hub.age():.1f}s ago)")
        else:
            checks["current"] = (False, f"cannot confirm the served documents are current: last confirmed "
                                        f"{self.hub.age():.0f}s ago, the bound is {self.hub.bound:g}s")
        checks["notifications"] = self._notifications_check() if checks["database"][0] else (
            True, "unknown (database unreachable)")
        return checks

    def _ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def _notifications_check(self) -> tuple[bool, str]:
        """Advisory (/readyz stays ready: agents must still poll): messages Slack refused every way."""
        def count() -> tuple[int, str]:
            with self.sessions() as session:
                lost = store.undeliverable(session=session, limit=1)
                return (store.snapshot_counts(session=session)["undeliverable"] if lost else 0,
                        (lost[0].last_error or "") if lost else "")
        try:
            lost, last = self._db_check.submit(count).result(timeout=READINESS_TIMEOUT)
        except Exception:  # noqa: BLE001 - unknown is not a reason to refuse traffic
            return True, "unknown (database unreachable)"
        if not lost:
            return True, "every notification delivered or on its way"
        return False, f"{lost} notification(s) undeliverable; the last: {last}"

    def _outage_since(self) -> float | None:
        """Since when Prometheus queries fail: the leader knows; a follower asks the database."""
        if self.leadership.leader:
            return self.blind_since
        try:
            with self.sessions() as session:
                return store.prometheus_state(session=session).failing_since
        except SQLAlchemyError:
            return None

    def _snapshot(self) -> dict[str, Any]:
        with self.sessions() as session:
            counts = store.snapshot_counts(session=session)
            rows = store.group_rows(session=session)
            shadows = Counter((h.agent, h.mode.name) for h in store.shadow_holds(session=session, now=self.clock()))
        return {**counts, "shadow_holds": shadows, "waiting": self.hub.waiting, "leader": 1.0 if self.leadership.leader else 0.0,
                "prometheus_up": 0.0 if self._outage_since() is not None else 1.0,
                "health": {(h.group, h.rule): h.health != "err"
                           for h in rulestate.health(self.groups, rows).values() if h.health != "unknown"},
                "evaluators": {g.name: self.sharing.evaluator(g.key) for g in self.groups},
                "replica": self.sharing.identity}

