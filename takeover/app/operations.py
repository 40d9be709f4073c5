"""What humans do, whichever door they come through (the API or a Slack button): take over,
hand back, decide an approval, acknowledge, silence. Each is one transaction with its audit row,
and refuses with a `Refusal` (an HTTP status and a message a person can act on)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from takeover import store
from takeover.config.mode import ALL_AGENTS, Mode
from takeover.control.approval import Status, check_args, may_respond
from takeover.control.sources import Source, SourceKind
from takeover.server.auth import Principal
from takeover.server.service import Service


class Refusal(Exception):
    """An operation refused: `status` is the HTTP status, `detail` what to tell the caller."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status, self.detail = status, detail


def _committed(service: Service, s: Session, changed: list[str]) -> None:
    s.commit()
    service.hub.invalidate(sorted(set(changed)))


def take_over(service: Service, s: Session, *, agent: str, mode: Mode, reason: str, actor: str,
              expires_at: float | None = None) -> None:
    """Replace every hold on the agent with this person's mode (`normal` hands control back)."""
    now = service.clock()
    if agent != ALL_AGENTS:
        store.ensure_agent(session=s, name=agent, now=now)
    changed = store.release_sources(session=s, agent=agent, actor=actor, reason=reason, now=now,
                                    on_change=service.mode_changed)
    if mode != Mode.normal:
        changed += store.add_source(session=s, now=now, on_change=service.mode_changed, source=Source(
            agent=agent, mode=mode, kind=SourceKind.override, ref=actor, reason=reason,
            actor=actor, since=now, expires_at=expires_at))
    _committed(service, s, changed)


def add_override(service: Service, s: Session, *, agent: str, mode: Mode, reason: str, actor: str,
                 expires_at: float | None = None) -> None:
    """Hold the agent in `mode` beside its other sources (the strictest wins)."""
    if mode == Mode.normal:
        raise Refusal(422, "an override holds a mode stricter than normal; to hand back, release sources instead")
    now = service.clock()
    changed = store.add_source(session=s, now=now, on_change=service.mode_changed, source=Source(
        agent=agent, mode=mode, kind=SourceKind.override, ref=actor, reason=reason, actor=actor,
        since=now, expires_at=expires_at))
    _committed(service, s, changed)


def release(service: Service, s: Session, *, agent: str, reason: str, actor: str,
            source_id: int | None = None) -> None:
    """Release one source by id, or every source held on the agent (`*`: the global ones)."""
    changed = store.release_sources(session=s, agent=agent, source_id=source_id, actor=actor,
                                    reason=reason, now=service.clock(), on_change=service.mode_changed)
    if source_id is not None and not changed:
        raise Refusal(404, f"no active source {source_id} on {agent!r}")
    _committed(service, s, changed)


def approval_for(s: Session, who: Principal, approval_id: str) -> Any:
    row = store.get_approval(session=s, approval_id=approval_id)
    if row is None:
        raise Refusal(404, f"no approval {approval_id!r}")
    if not who.may_read(row.agent):
        raise Refusal(403, f"{who.actor} may not see approvals of agent {row.agent!r}")
    return row


def decide(service: Service, s: Session, *, approval_id: str, status: Status, who: Principal,
           comment: str | None = None, args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Approve, reject or cancel a pending request: the first decision wins, atomically."""
    row = approval_for(s, who, approval_id)
    now = service.clock()
    if status in (Status.approved, Status.rejected) and not may_respond(
            row.responders, role=who.role.value, name=who.name):
        raise Refusal(403, f"{who.actor} may not answer this request (responders: {', '.join(row.responders)})")
    if status == Status.cancelled and who.is_operator():
        raise Refusal(403, "only the requesting agent cancels its request; operators reject it (with a comment)")
    if status == Status.rejected and not (comment or "").strip():
        raise Refusal(422, "a rejection needs a comment: tell the agent why")
    if args is not None:
        if status != Status.approved:
            raise Refusal(422, "only an approval may carry edited args")
        problem = check_args(args, proposed=row.args_proposed)
        if problem:
            raise Refusal(422, problem)
    if row.status == Status.pending.value and row.expires_at <= now:
        service.expire_approvals()
    if not store.decide_approval(session=s, approval_id=approval_id, status=status,
                                 actor=who.actor, now=now, comment=comment, args=args):
        s.rollback()
        current = approval_for(s, who, approval_id)
        s.refresh(current)
        by = f" by {current.decided_by}" if current.decided_by else ""
        raise Refusal(409, {"message": f"already {current.status}{by}",
                            "approval": store.approval_public(current)})
    row = approval_for(s, who, approval_id)
    service.metrics.decision_latency.observe(now - row.requested_at)
    service.notify_approval(s, row, now=now)
    s.commit()
    service.hub.signal(f"approval:{approval_id}")
    service.wake_delivery()
    return store.approval_public(row)


def silence(service: Service, s: Session, *, matchers: list[str], duration: float, comment: str,
            actor: str, suppress_takeover: bool = False, starts_at: float | None = None) -> Any:
    """Mute notifications of matching alerts for `duration` seconds (not their takeover,
    unless `suppress_takeover`)."""
    from takeover.control.silence import parse_matcher

    try:
        for m in matchers:
            parse_matcher(m)
    except ValueError as exc:
        raise Refusal(422, str(exc)) from None
    if not matchers:
        raise Refusal(422, "a silence needs at least one matcher, e.g. alertname=AgentErrorRateHigh")
    if duration <= 0:
        raise Refusal(422, "a silence must last more than 0s")
    now = service.clock()
    start = starts_at if starts_at is not None else now
    row = store.create_silence(session=s, matchers=matchers, starts_at=start, ends_at=start + duration,
                               created_by=actor, comment=comment, suppress_takeover=suppress_takeover,
                               now=now)
    s.commit()
    return row
