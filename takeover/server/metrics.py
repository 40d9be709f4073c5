"""takeover's own /metrics: counters updated as things happen, gauges read at scrape time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class Metrics:
    """One registry per service (tests run several services in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.eval_failures = Counter("takeover_rule_evaluation_failures", "Failed rule evaluations", ["group"], registry=r)
        self.eval_duration = Histogram("takeover_rule_group_duration_seconds", "Wall time of one group evaluation",
                                       ["group"], registry=r, buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.missed_slots = Counter("takeover_rule_group_missed_slots", "Slots of a group no replica evaluated "
                                    "(counted by the next evaluation)", ["group"], registry=r)
        self.notifications_sent = Counter("takeover_notifications_sent", "Slack messages delivered", registry=r)
        self.notifications_failed = Counter("takeover_notifications_failed", "Slack delivery attempts that failed", registry=r)
        self.mode_changes = Counter("takeover_mode_changes", "Changes of agents' control documents", registry=r)
        self.decision_latency = Histogram("takeover_approval_decision_seconds", "Time from request to decision",
                                          registry=r, buckets=(1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600))
        self.job_overruns = Counter("takeover_job_overruns", "Scheduled runs skipped because the previous run "
                                    "of the job was still going", ["job"], registry=r)
        self.shadow_decisions = Counter("takeover_policy_shadow_decisions", "Shadow policies' would-be decisions "
                                        "on actions (never obeyed)", ["policy", "decision"], registry=r)
        self.control_polls = 0  # plain int: the hot path must not take a lock

    def read_at_scrape(self, collect: Callable[[], dict[str, Any]]) -> None:
        """Register gauges computed by `collect()` when /metrics is scraped."""
        self.registry.register(_Snapshot(collect, self))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Snapshot(Collector):
    def __init__(self, collect: Callable[[], dict[str, Any]], metrics: Metrics) -> None:
        self._collect, self._metrics = collect, metrics

    def describe(self) -> list[Any]:
        return []  # computed at scrape time; nothing to check at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        s = self._collect()
        alerts = GaugeMetricFamily("takeover_alerts", "Alerts by state", labels=["state"])
        for state, n in sorted(s["alerts"].items()):
            alerts.add_metric([state], n)
        yield alerts
        health = GaugeMetricFamily("takeover_rule_health", "1 when the rule's last evaluation succeeded",
                                   labels=["group", "rule"])
        for (group, rule), ok in sorted(s["health"].items()):
            health.add_metric([group, rule], 1.0 if ok else 0.0)
        yield health
        evaluators = GaugeMetricFamily("takeover_rule_group_evaluator", "1 for the replica that evaluates the "
                                       "group, as this replica sees the live ones", labels=["group", "replica"])
        for group, replica in sorted(s["evaluators"].items()):
            evaluators.add_metric([group, replica], 1.0)
        yield evaluators
        shadow = GaugeMetricFamily("takeover_shadow_holds", "Holds firing `takeover: shadow:<mode>` alerts would "
                                   "make now (they hold nothing)", labels=["agent", "mode"])
        for (agent, mode), n in sorted(s["shadow_holds"].items()):
            shadow.add_metric([agent, mode], n)
        yield shadow
        yield GaugeMetricFamily("takeover_rule_groups_evaluated_here", "Rule groups this replica evaluates",
                                value=sum(1 for r in s["evaluators"].values() if r == s["replica"]))
        yield GaugeMetricFamily("takeover_notifications_queued", "Undelivered outbox rows", value=s["queued"])
        yield GaugeMetricFamily("takeover_notifications_undeliverable", "Notifications Slack refused every way "
                                "takeover tried (kept in the outbox, shown in the console)", value=s["undeliverable"])
        yield GaugeMetricFamily("takeover_outbox_oldest_age_seconds", "Age of the oldest undelivered notification",
                                value=(time.time() - s["oldest"]) if s["oldest"] else 0.0)
        yield GaugeMetricFamily("takeover_approvals_pending", "Approval requests waiting for a human", value=s["pending"])
        yield GaugeMetricFamily("takeover_long_polls_in_flight", "Long-polls held open", value=s["waiting"])
        yield GaugeMetricFamily("takeover_control_polls", "Control polls answered by the fast path (counter)",
                                value=self._metrics.control_polls)
        yield GaugeMetricFamily("takeover_leader", "1 when this process evaluates rules and delivers", value=s["leader"])
        yield GaugeMetricFamily("takeover_prometheus_up", "1 when the last Prometheus query succeeded", value=s["prometheus_up"])
