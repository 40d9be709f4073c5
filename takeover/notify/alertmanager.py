"""takeover → Alertmanager: takeover's own alerts posted to `/api/v2/alerts` as Prometheus
posts its own (rules/alerting.go, notifier/), so a team's existing routes page for them; Slack
delivery is untouched. The leader sends; Alertmanager deduplicates by labels, so a new leader
sending everything once more is harmless.

`needs_sending` is Prometheus's predicate; `to_alertmanager` its payload: `startsAt` the alert's
active time, `endsAt` its resolve time, or while firing `now + 4 × resend` (Alertmanager then
resolves it by itself if takeover goes quiet), `generatorURL` the alert's console timeline."""

from __future__ import annotations

import datetime
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlmodel import Session

from takeover import store
from takeover.rules.evaluate import State
from takeover.store.models import AlertRow

log = logging.getLogger(__name__)
RESEND = 60.0  # Prometheus's --rules.alert.resend-delay: re-sent this often while firing
VALID_FOR = 4  # × RESEND: how long Alertmanager trusts a firing alert without hearing it again
MAX_BACKOFF = 60.0


def needs_sending(*, state: str, resolved_at: float | None, last_sent: float | None, now: float,
                  resend: float = RESEND) -> bool:
    """Prometheus's `needsSending`: never a pending alert; a resolve not yet sent at once; else
    once every `resend`."""
    if state == State.pending.value:
        return False
    if last_sent is None or (resolved_at is not None and resolved_at > last_sent):
        return True
    return last_sent + resend <= now


def rfc3339(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat().replace("+00:00", "Z")


def to_alertmanager(row: AlertRow, *, now: float, public_url: str | None, resend: float = RESEND) -> dict[str, Any]:
    """One alert as `POST /api/v2/alerts` takes it (labels, annotations, times, generatorURL)."""
    resolved = row.state == State.inactive.value and row.resolved_at is not None
    ends = row.resolved_at if resolved and row.resolved_at is not None else now + VALID_FOR * resend
    annotations = {k: v for k, v in row.annotations.items() if v}
    if math.isfinite(row.value):
        annotations.setdefault("value", f"{row.value:g}")
    found: dict[str, Any] = {"labels": dict(row.labels), "annotations": annotations,
                             "startsAt": rfc3339(row.active_at), "endsAt": rfc3339(ends)}
    if public_url and row.id is not None:
        found["generatorURL"] = f"{public_url.rstrip('/')}/ui/alerts/{row.id}/timeline"
    return found


def own_alerts(*, session: Session) -> list[AlertRow]:
    """takeover's own alerts (its rules and its meta-alert): never those an Alertmanager sent it."""
    return [r for r in store.list_alerts(session=session) if r.group_key != store.ALERTMANAGER_GROUP]


@dataclass
class AlertmanagerSender:
    """The leader's pass: post the alerts that need sending to every configured Alertmanager (an
    HA pair gets both copies, as from Prometheus). A failed post is reported and tried again after
    a back-off; it never touches the outbox or Slack."""

    urls: Sequence[str]
    sessions: Callable[[], Session]
    public_url: str | None = None
    resend: float = RESEND
    timeout: float = 10.0
    transport: httpx.BaseTransport | None = None
    sent: dict[str, dict[tuple[str, str], float]] = field(default_factory=dict)  # url -> alert key -> last sent
    failing: dict[str, tuple[int, float]] = field(default_factory=dict)  # url -> (failures in a row, retry at)

    def run(self, *, now: float) -> int:
        """One pass; returns how many alerts were accepted (summed over the Alertmanagers)."""
        with self.sessions() as s:
            rows = own_alerts(session=s)
        accepted = 0
        for url in self.urls:
            failures, retry_at = self.failing.get(url, (0, 0.0))
            if now < retry_at:
                continue
            last = self.sent.setdefault(url, {})
            due = [r for r in rows if needs_sending(state=r.state, resolved_at=r.resolved_at, now=now,
                                                    last_sent=last.get((r.rule_key, r.fingerprint)),
                                                    resend=self.resend)]
            live = {(r.rule_key, r.fingerprint) for r in rows}
            for gone in [k for k in last if k not in live]:
                del last[gone]  # forgotten alerts: Alertmanager resolves them by their endsAt
            if not due:
                continue
            body = [to_alertmanager(r, now=now, public_url=self.public_url, resend=self.resend) for r in due]
            try:
                with httpx.Client(timeout=self.timeout, transport=self.transport) as client:
                    answer = client.post(f"{url.rstrip('/')}/api/v2/alerts", json=body)
                answer.raise_for_status()
            except httpx.HTTPError as exc:
                wait = min(MAX_BACKOFF, 2.0 ** failures)
                self.failing[url] = (failures + 1, now + wait)
                log.warning("could not post %d alert(s) to Alertmanager %s (%s); trying again in %.0fs",
                            len(body), url, exc, wait)
                continue
            if failures:
                log.info("Alertmanager %s accepts alerts again", url)
            self.failing.pop(url, None)
            for r in due:
                last[(r.rule_key, r.fingerprint)] = now
            accepted += len(due)
        return accepted
