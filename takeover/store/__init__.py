"""Data functions over the tables: keyword-only, each takes the session it works in.

Callers own the transaction: a state change, its audit row and its notification are written
in one commit, so there is never a change without its record or its message.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import Any

from sqlalchemy import and_, event, func, or_, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, create_engine, select

from takeover.config.mode import ALL_AGENTS, Mode
from takeover.control.approval import Status, effective_args
from takeover.control.silence import Silence, parse_matcher
from takeover.control.sources import Source, SourceKind, permissions, resolve_mode
from takeover.rules.evaluate import Alert, Labels, State
from takeover.store.models import (
    AgentRow,
    AlertRow,
    ApprovalRow,
    AuditRow,
    GroupRow,
    InteractionRow,
    LeaderTermRow,
    MessageRow,
    NotifyGroupRow,
    OutboxRow,
    PrometheusStateRow,
    SilenceRow,
    SlackChannelRow,
    SourceRow,
    TokenRow,
)

AUDIT_LOCK = 0x7A6B0  # PostgreSQL advisory lock serialising appends to the audit chain
request_id: ContextVar[str] = ContextVar("request_id", default="")


def make_engine(url: str, *, migrate: bool = False) -> Engine:
    """An engine on a database whose schema is current: the embedded SQLite (or any database
    when `migrate`) is upgraded in place; another one that is behind raises DatabaseBehind.

    SQLite: WAL, a busy timeout, and BEGIN IMMEDIATE so a transaction that reads then writes
    (a conditional decision, the audit chain) holds the write lock from its start."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy's begin event issues BEGIN itself
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        engine = create_engine(url, pool_pre_ping=True)
    from takeover.store.migrate import ensure_current

    ensure_current(engine, upgrade_if_behind=migrate or url.startswith("sqlite"))
    return engine


def fingerprint(labels: Labels) -> str:
    return hashlib.sha256(json.dumps(labels).encode()).hexdigest()[:16]


# --- alerts -------------------------------------------------------------------------------

def alert_from_row(row: AlertRow) -> Alert:
    return Alert(
        labels=tuple(sorted(row.labels.items())),
        annotations=row.annotations,
        state=State(row.state),
        value=row.value,
        active_at=row.active_at,
        fired_at=row.fired_at,
        resolved_at=row.resolved_at,
        keep_firing_since=row.keep_firing_since,
    )


def load_alerts(*, session: Session, group_key: str) -> dict[str, dict[Labels, Alert]]:
    """The group's alerts by rule key, as the evaluator left them."""
    out: dict[str, dict[Labels, Alert]] = {}
    for row in session.exec(select(AlertRow).where(AlertRow.group_key == group_key)):
        alert = alert_from_row(row)
        out.setdefault(row.rule_key, {})[alert.labels] = alert
    return out


def save_alerts(
    *, session: Session, group_key: str, rule_key: str,
    before: Mapping[Labels, Alert], after: Mapping[Labels, Alert],
) -> None:
    """Write the rule's new alert set: insert, update and delete only what changed."""
    if all(before.get(labels) == alert for labels, alert in after.items()) and before.keys() <= after.keys():
        return  # nothing changed: no round trip
    rows = {
        r.fingerprint: r
        for r in session.exec(select(AlertRow).where(AlertRow.rule_key == rule_key,
                                                     AlertRow.group_key == group_key))
    }
    for labels, alert in after.items():
        if before.get(labels) == alert:
            continue
        fp = fingerprint(labels)
        row = rows.get(fp) or AlertRow(group_key=group_key, rule_key=rule_key, fingerprint=fp,
                                       labels={}, annotations={}, state="", value=0, active_at=0)
        row.labels = dict(alert.labels)
        row.annotations = dict(alert.annotations)
        row.state = alert.state.value
        row.value = alert.value
        row.active_at = alert.active_at
        row.fired_at = alert.fired_at
        row.resolved_at = alert.resolved_at
        row.keep_firing_since = alert.keep_firing_since
        session.add(row)
    for labels in before.keys() - after.keys():
        gone = rows.get(fingerprint(labels))
        if gone is not None:
            session.delete(gone)


META_GROUP = "takeover:meta"


def meta_alert(*, session: Session) -> AlertRow | None:
    return session.exec(select(AlertRow).where(AlertRow.group_key == META_GROUP)).first()


def save_meta_alert(*, session: Session, labels: dict[str, str], annotations: dict[str, str],
                    now: float, firing: bool) -> None:
    """Fire or resolve takeover's own alert (it has no rule: the evaluator is what is broken)."""
    row = meta_alert(session=session)
    if firing:
        row = row or AlertRow(group_key=META_GROUP, rule_key=labels["alertname"],
                              fingerprint=fingerprint(tuple(sorted(labels.items()))), labels=labels,
                              annotations=annotations, state="firing", value=1.0, active_at=now)
        row.state, row.active_at, row.fired_at, row.resolved_at = "firing", now, now, None
        row.annotations = annotations or row.annotations
    elif row is not None:
        row.state, row.resolved_at = "inactive", now
    if row is not None:
        session.add(row)
        record_audit(session=session, now=now, actor="system:meta-alert",
                     action="alert.firing" if firing else "alert.resolved",
                     subject=f"alert:{labels['alertname']}", after=labels)


def list_alerts(*, session: Session) -> list[AlertRow]:
    return list(session.exec(select(AlertRow).order_by(col(AlertRow.active_at))))


def claim_slot(*, session: Session, group_key: str, slot: float) -> bool:
    """Mark `slot` evaluated for the group; False when it (or a later one) already was."""
    row = session.get(GroupRow, group_key)
    if row is None:
        session.add(GroupRow(key=group_key, last_eval_at=slot))
        return True
    if row.last_eval_at >= slot:
        return False
    row.last_eval_at = slot
    session.add(row)
    return True


# --- agents and modes ---------------------------------------------------------------------

def _source_from_row(row: SourceRow) -> Source:
    return Source(
        agent=row.agent, mode=Mode[row.mode], kind=SourceKind(row.kind), ref=row.ref,
        reason=row.reason, actor=row.actor, since=row.since, expires_at=row.expires_at,
        id=row.id or 0,
    )


def _insert_if_missing(session: Session, table: Any, key: str, **values: Any) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: safe when replicas or threads race to create a row."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(table).values(**values).on_conflict_do_nothing(index_elements=[key]))


def ensure_agent(*, session: Session, name: str, now: float) -> AgentRow:
    """The agent's row, created if missing; safe when replicas (or a poll and an alert) race."""
    agent = session.get(AgentRow, name)
    if agent is None:
        _insert_if_missing(session, AgentRow, "name", name=name, created_at=now, version=1)
        agent = session.get(AgentRow, name)
        assert agent is not None
    return agent


def active_sources(*, session: Session, now: float) -> list[Source]:
    rows = session.exec(select(SourceRow).where(col(SourceRow.released_at).is_(None)))
    return [s for s in map(_source_from_row, rows) if s.expires_at is None or now < s.expires_at]


def _bump(*, session: Session, agent: str) -> list[str]:
    """Bump the version of `agent` (or of every agent for `*`); returns who changed."""
    stmt = update(AgentRow).values(version=AgentRow.version + 1)
    if agent != ALL_AGENTS:
        stmt = stmt.where(col(AgentRow.name) == agent)
    session.execute(stmt)
    if agent == ALL_AGENTS:
        return list(session.exec(select(AgentRow.name)))
    return [agent]


def effective_mode(*, session: Session, agent: str, now: float) -> Mode:
    return resolve_mode(active_sources(session=session, now=now), agent=agent, now=now)


# (session, scope, before, after, actor, reason, now): lets the caller queue a message in the same transaction
OnModeChange = Callable[[Session, str, Mode, Mode, str, str, float], None]


def add_source(*, session: Session, source: Source, now: float,
               on_change: OnModeChange | None = None) -> list[str]:
    """Hold `source.agent` in a mode; audited with before/after. Returns the changed agents."""
    if source.agent != ALL_AGENTS:
        ensure_agent(session=session, name=source.agent, now=now)
    before = effective_mode(session=session, agent=source.agent, now=now)
    row = SourceRow(agent=source.agent, mode=source.mode.name, kind=source.kind.value,
                    ref=source.ref, reason=source.reason, actor=source.actor, since=source.since,
                    expires_at=source.expires_at)
    session.add(row)
    session.flush()
    after = effective_mode(session=session, agent=source.agent, now=now)
    record_audit(session=session, now=now, actor=source.actor, action=f"mode.{source.kind.value}",
                 subject=f"agent:{source.agent}", before=before.name, after=after.name,
                 reason=source.reason)
    if on_change is not None and before != after:
        on_change(session, source.agent, before, after, source.actor, source.reason, now)
    return _bump(session=session, agent=source.agent)


def release_sources(
    *, session: Session, agent: str, actor: str, reason: str, now: float,
    source_id: int | None = None, kind: SourceKind | None = None, ref: str | None = None,
    on_change: OnModeChange | None = None,
) -> list[str]:
    """Release the sources held on `agent` (all, or the one `source_id`, or those of `kind`/`ref`).

    Only `*` releases the all-agents sources. Returns the agents whose document changed."""
    query = select(SourceRow).where(SourceRow.agent == agent, col(SourceRow.released_at).is_(None))
    if source_id is not None:
        query = query.where(SourceRow.id == source_id)
    if kind is not None:
        query = query.where(SourceRow.kind == kind.value)
    if ref is not None:
        query = query.where(SourceRow.ref == ref)
    rows = list(session.exec(query))
    if not rows:
        return []
    before = effective_mode(session=session, agent=agent, now=now)
    for row in rows:
        row.released_at = now
        row.released_by = actor
        session.add(row)
    session.flush()
    after = effective_mode(session=session, agent=agent, now=now)
    record_audit(session=session, now=now, actor=actor, action="mode.release",
                 subject=f"agent:{agent}", before=before.name, after=after.name, reason=reason)
    if on_change is not None and before != after:
        on_change(session, agent, before, after, actor, reason, now)
    return _bump(session=session, agent=agent)


def expire_sources(*, session: Session, now: float, on_change: OnModeChange | None = None) -> list[str]:
    """Release the sources whose expiry has passed (audited as the system); returns who changed."""
    rows = list(session.exec(select(SourceRow).where(col(SourceRow.released_at).is_(None),
                                                     col(SourceRow.expires_at) <= now)))
    changed: list[str] = []
    for row in rows:
        changed += release_sources(session=session, agent=row.agent, source_id=row.id, on_change=on_change,
                                   actor="system:expiry", reason=f"expired: {row.reason}", now=now)
    return changed


def control_documents(*, session: Session, agents: Iterable[str], now: float) -> dict[str, dict[str, Any]]:
    """What each agent polls: mode, version, the sources behind it and what it may do.

    Built from one read of the active sources, so a change to every agent costs one query.
    Versions are read before sources (see `list_agents`)."""
    names = list(agents)
    rows = {a.name: a for a in session.exec(select(AgentRow).where(col(AgentRow.name).in_(names)))}
    sources = active_sources(session=session, now=now)
    docs = {}
    for name, row in rows.items():
        mine = [s for s in sources if s.applies(name, now)]
        mode = resolve_mode(mine, agent=name, now=now)
        docs[name] = {
            "agent": name,
            "mode": mode.name,
            "version": row.version,
            "sources": [
                {"id": s.id, "kind": s.kind.value, "mode": s.mode.name, "scope": s.agent,
                 "ref": s.ref, "reason": s.reason, "actor": s.actor, "since": s.since,
                 "expires_at": s.expires_at}
                for s in sorted(mine, key=lambda s: (-s.mode, s.since))
            ],
            "permissions": permissions(mode),
            "canary_ratio": row.canary_ratio,
        }
    return docs


def control_document(*, session: Session, agent: str, now: float) -> dict[str, Any] | None:
    return control_documents(session=session, agents=[agent], now=now).get(agent)


def list_agents(*, session: Session, now: float) -> list[dict[str, Any]]:
    # versions before sources: a change between the two reads pairs an old version with the
    # new mode (the next read shows a newer version), never a new version with the old mode
    agents = list(session.exec(select(AgentRow).order_by(col(AgentRow.name))))
    sources = active_sources(session=session, now=now)
    return [{"agent": a.name, "mode": resolve_mode(sources, agent=a.name, now=now).name,
             "version": a.version} for a in agents]


# --- leadership: fencing term and the shared outage clock ---------------------------------

class Deposed(RuntimeError):
    """A newer leader took over: this process must make no further side effect as leader."""

    def __init__(self, term: int | None, current: int | None) -> None:
        super().__init__(f"leader term {term} is over (current term {current})")
        self.term = term


def new_term(*, session: Session, holder: str, now: float) -> int:
    """Bump the fencing term for a new leader (the caller holds the leader lock); returns it."""
    row = session.get(LeaderTermRow, 1, with_for_update=True) or LeaderTermRow(id=1)
    row.term, row.holder, row.since = row.term + 1, holder, now
    session.add(row)
    session.flush()
    return row.term


def fence(*, session: Session, term: int | None) -> None:
    """Raise Deposed unless `term` is still current. On PostgreSQL the row stays share-locked
    until the transaction ends, so a new leader's bump waits for this transaction: whatever
    commits after the check, commits before the next term begins."""
    current = session.exec(select(LeaderTermRow.term).where(LeaderTermRow.id == 1)
                           .with_for_update(read=True)).first()
    if term is None or current != term:
        raise Deposed(term, current)


def prometheus_state(*, session: Session) -> PrometheusStateRow:
    return session.get(PrometheusStateRow, 1) or PrometheusStateRow(id=1)


def save_prometheus_state(*, session: Session, failing_since: float | None, last_error: str,
                          now: float) -> None:
    row = prometheus_state(session=session)
    row.failing_since, row.last_error, row.updated_at = failing_since, last_error[:500], now
    session.add(row)


def agent_versions(*, session: Session) -> dict[str, int]:
    return dict(session.exec(select(AgentRow.name, AgentRow.version)).all())


def revocation_mark(*, session: Session) -> tuple[int, float | None]:
    """Changes when any token is revoked: (how many are revoked, the latest revocation)."""
    count, latest = session.exec(select(func.count(), func.max(TokenRow.revoked_at))
                                 .where(col(TokenRow.revoked_at).is_not(None))).one()
    return int(count), latest


def decided_since(*, session: Session, since: float) -> list[str]:
    return list(session.exec(select(ApprovalRow.id).where(col(ApprovalRow.decided_at) >= since)))


# --- notifications ------------------------------------------------------------------------

def enqueue(*, session: Session, message_key: str, channel: str, payload: dict[str, Any],
            now: float) -> None:
    session.add(OutboxRow(message_key=message_key, channel=channel, payload=payload, created_at=now))


def undelivered(*, session: Session, limit: int = 100) -> list[OutboxRow]:
    return list(session.exec(select(OutboxRow).where(col(OutboxRow.sent_at).is_(None))
                             .order_by(col(OutboxRow.id)).limit(limit)))


def posted_message(*, session: Session, key: str) -> MessageRow | None:
    return session.get(MessageRow, key)


def claim_outbox(*, session: Session, row_id: int, term: int, now: float) -> tuple[OutboxRow, int | None] | None:
    """Claim an unsent row for this term before Slack is called: (row, the term of an earlier
    unfinished claim or None). None when the row was sent meanwhile. The caller has fenced."""
    row = session.get(OutboxRow, row_id)
    if row is None or row.sent_at is not None:
        return None
    earlier = row.claim_term
    row.claim_term, row.claimed_at = term, now
    session.add(row)
    return row, earlier


def record_post(*, session: Session, key: str, channel: str, ts: str, asked_channel: str,
                orphan_check_at: float | None = None) -> None:
    """Remember where a message was posted (and the channel's id, for reading history later)."""
    session.merge(MessageRow(key=key, channel=channel, ts=ts, orphan_check_at=orphan_check_at))
    if asked_channel != channel:
        _insert_if_missing(session, SlackChannelRow, "name", name=asked_channel, id=channel)


def channel_id(*, session: Session, name: str) -> str:
    row = session.get(SlackChannelRow, name)
    return row.id if row is not None else name


def orphan_checks_due(*, session: Session, now: float) -> list[MessageRow]:
    return list(session.exec(select(MessageRow).where(col(MessageRow.orphan_check_at) <= now)))


# --- tokens and audit ---------------------------------------------------------------------

def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(*, session: Session, name: str, role: str, agents: Iterable[str], token: str,
                 now: float, actor: str, expires_at: float | None = None) -> TokenRow:
    """Store a token's hash (never the token) and audit who created it."""
    row = TokenRow(name=name, role=role, agents=list(agents), token_hash=hash_token(token),
                   created_at=now, expires_at=expires_at)
    session.add(row)
    session.flush()
    record_audit(session=session, now=now, actor=actor, action="token.create",
                 subject=f"token:{row.id}", after=token_public(row))
    return row


def token_public(row: TokenRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "role": row.role, "agents": row.agents,
            "created_at": row.created_at, "expires_at": row.expires_at, "revoked_at": row.revoked_at}


def list_tokens(*, session: Session) -> list[TokenRow]:
    return list(session.exec(select(TokenRow).order_by(col(TokenRow.id))))


def revoke_token(*, session: Session, token_id: int, actor: str, now: float) -> TokenRow | None:
    row = session.get(TokenRow, token_id)
    if row is None or row.revoked_at is not None:
        return row
    row.revoked_at = now
    session.add(row)
    record_audit(session=session, now=now, actor=actor, action="token.revoke",
                 subject=f"token:{row.id}", after=token_public(row))
    return row


def find_token(*, session: Session, token: str) -> TokenRow | None:
    return session.exec(select(TokenRow).where(TokenRow.token_hash == hash_token(token))).first()


def audit_content(row: AuditRow) -> str:
    """The canonical text of a row that its hash covers."""
    return json.dumps({"at": row.at, "actor": row.actor, "action": row.action,
                       "subject": row.subject, "before": row.before, "after": row.after,
                       "reason": row.reason, "request_id": row.request_id},
                      sort_keys=True, separators=(",", ":"))


def audit_hash(prev_hash: str, row: AuditRow) -> str:
    return hashlib.sha256((prev_hash + audit_content(row)).encode()).hexdigest()


def record_audit(*, session: Session, now: float, actor: str, action: str, subject: str,
                 before: Any = None, after: Any = None, reason: str = "") -> AuditRow:
    """Append a row to the audit chain, in the caller's transaction (so no change goes unrecorded)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
    last = session.exec(select(AuditRow.hash).order_by(col(AuditRow.id).desc()).limit(1)).first()
    row = AuditRow(at=now, actor=actor, action=action, subject=subject, before=before, after=after,
                   reason=reason, request_id=request_id.get(), prev_hash=last or "")
    row.hash = audit_hash(row.prev_hash, row)
    session.add(row)
    session.flush()
    return row


def verify_audit(*, session: Session, batch: int = 1000) -> tuple[int, AuditRow | None]:
    """Walk the chain: (rows checked, the first row whose hash does not match, or None)."""
    prev, checked, after_id = "", 0, 0
    while True:
        rows = list(session.exec(select(AuditRow).where(col(AuditRow.id) > after_id)
                                 .order_by(col(AuditRow.id)).limit(batch)))
        if not rows:
            return checked, None
        for row in rows:
            if row.prev_hash != prev or row.hash != audit_hash(prev, row):
                return checked, row
            prev, checked, after_id = row.hash, checked + 1, row.id or 0


def audit_rows(*, session: Session, since: float | None = None, until: float | None = None,
               agent: str | None = None, actor: str | None = None, action: str | None = None,
               after_id: int = 0, limit: int = 100) -> list[AuditRow]:
    """A page of the trail, oldest first, after the row `after_id`."""
    query = select(AuditRow).where(col(AuditRow.id) > after_id)
    if since is not None:
        query = query.where(col(AuditRow.at) >= since)
    if until is not None:
        query = query.where(col(AuditRow.at) < until)
    if agent is not None:
        query = query.where(col(AuditRow.subject) == f"agent:{agent}")
    if actor is not None:
        query = query.where(col(AuditRow.actor) == actor)
    if action is not None:
        query = query.where(col(AuditRow.action).startswith(action))
    return list(session.exec(query.order_by(col(AuditRow.id)).limit(limit)))


# --- approvals ----------------------------------------------------------------------------

class IdempotencyConflict(ValueError):
    """The same idempotency key with a different action or arguments."""


def approval_public(row: ApprovalRow) -> dict[str, Any]:
    return {
        "id": row.id, "agent": row.agent, "action": row.action, "kind": row.kind, "risk": row.risk,
        "reason": row.reason, "status": row.status, "requested_by": row.requested_by,
        "requested_at": row.requested_at, "expires_at": row.expires_at,
        "responders": row.responders, "decided_at": row.decided_at, "decided_by": row.decided_by,
        "comment": row.comment, "idempotency_key": row.idempotency_key,
        "args": {"proposed": row.args_proposed, "approved": row.args_approved,
                 "effective": effective_args(row.args_proposed, row.args_approved)
                 if row.status == Status.approved else None},
    }


def create_approval(*, session: Session, agent: str, action: str, kind: str, risk: str,
                    args: dict[str, Any], reason: str, requested_by: str, now: float,
                    expires_at: float, responders: list[str],
                    idempotency_key: str | None) -> tuple[ApprovalRow, bool]:
    """A new pending request, or the existing one for the same (agent, idempotency_key) — also
    when two requests with that key race (a savepoint keeps the caller's transaction)."""
    existing = _approval_by_key(session=session, agent=agent, key=idempotency_key)
    if existing is None:
        ensure_agent(session=session, name=agent, now=now)
        row = ApprovalRow(id=uuid.uuid4().hex, agent=agent, action=action, kind=kind, risk=risk,
                          reason=reason, args_proposed=args, responders=responders,
                          status=Status.pending.value, requested_by=requested_by, requested_at=now,
                          expires_at=expires_at, idempotency_key=idempotency_key)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            existing = _approval_by_key(session=session, agent=agent, key=idempotency_key)
            assert existing is not None
    if existing is not None:
        if (existing.action, existing.args_proposed) != (action, args):
            raise IdempotencyConflict(
                f"idempotency key {idempotency_key!r} was used for another request "
                f"({existing.action} with other arguments): use a new key for a new action")
        return existing, False
    record_audit(session=session, now=now, actor=requested_by, action="approval.request",
                 subject=f"agent:{agent}", reason=reason,
                 after={"approval": row.id, "action": action, "kind": kind, "risk": risk,
                        "args": args, "expires_at": expires_at, "responders": responders})
    return row, True


def _approval_by_key(*, session: Session, agent: str, key: str | None) -> ApprovalRow | None:
    if key is None:
        return None
    return session.exec(select(ApprovalRow).where(ApprovalRow.agent == agent,
                                                  ApprovalRow.idempotency_key == key)).first()


def get_approval(*, session: Session, approval_id: str) -> ApprovalRow | None:
    return session.get(ApprovalRow, approval_id)


def decide_approval(*, session: Session, approval_id: str, status: Status, actor: str, now: float,
                    comment: str | None = None, args: dict[str, Any] | None = None) -> bool:
    """Move a pending, unexpired request to `status`: one conditional UPDATE, so exactly one
    of any number of concurrent deciders wins (on SQLite and PostgreSQL alike)."""
    result = session.execute(
        update(ApprovalRow)
        .where(col(ApprovalRow.id) == approval_id, col(ApprovalRow.status) == Status.pending.value,
               col(ApprovalRow.expires_at) > now)
        .values(status=status.value, decided_at=now, decided_by=actor, comment=comment,
                args_approved=args)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    row = session.get(ApprovalRow, approval_id)
    assert row is not None
    session.refresh(row)
    record_audit(session=session, now=now, actor=actor, action=f"approval.{status.value}",
                 subject=f"agent:{row.agent}", before=Status.pending.value, after={
                     "approval": row.id, "status": status.value, "action": row.action,
                     "args_proposed": row.args_proposed, "args_approved": args,
                     "args_effective": effective_args(row.args_proposed, args)
                     if status == Status.approved else None},
                 reason=comment or "")
    return True


def expire_approvals(*, session: Session, now: float) -> list[ApprovalRow]:
    """Turn every pending request past its expiry into `expired` (audited as the system)."""
    ids = list(session.exec(select(ApprovalRow.id).where(
        col(ApprovalRow.status) == Status.pending.value, col(ApprovalRow.expires_at) <= now)))
    expired = []
    for approval_id in ids:
        result = session.execute(
            update(ApprovalRow)
            .where(col(ApprovalRow.id) == approval_id, col(ApprovalRow.status) == Status.pending.value)
            .values(status=Status.expired.value, decided_at=now, decided_by="system:expiry")
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            row = session.get(ApprovalRow, approval_id)
            assert row is not None
            session.refresh(row)
            record_audit(session=session, now=now, actor="system:expiry", action="approval.expired",
                         subject=f"agent:{row.agent}", before=Status.pending.value,
                         after={"approval": row.id, "status": "expired", "action": row.action},
                         reason="no decision before the request expired")
            expired.append(row)
    return expired


def list_approvals(*, session: Session, status: str | None = None, agent: str | None = None,
                   limit: int = 100, after: tuple[float, str] | None = None) -> list[ApprovalRow]:
    """A page of requests, oldest first; `after` is the (requested_at, id) of the last one seen."""
    query = select(ApprovalRow)
    if status is not None:
        query = query.where(col(ApprovalRow.status) == status)
    if agent is not None:
        query = query.where(col(ApprovalRow.agent) == agent)
    if after is not None:
        at, last_id = after
        query = query.where(or_(col(ApprovalRow.requested_at) > at,
                                and_(col(ApprovalRow.requested_at) == at, col(ApprovalRow.id) > last_id)))
    return list(session.exec(query.order_by(col(ApprovalRow.requested_at), col(ApprovalRow.id)).limit(limit)))


def snapshot_counts(*, session: Session) -> dict[str, Any]:
    """Cheap aggregate counts for /metrics."""
    alerts = dict(session.exec(select(AlertRow.state, func.count()).group_by(AlertRow.state)).all())
    queued, oldest = session.exec(select(func.count(), func.min(OutboxRow.created_at))
                                  .where(col(OutboxRow.sent_at).is_(None))).one()
    pending = session.exec(select(func.count()).select_from(ApprovalRow)
                           .where(col(ApprovalRow.status) == Status.pending.value)).one()
    return {"alerts": alerts, "queued": queued, "oldest": oldest, "pending": pending}


# --- notification groups, silences, Slack interactions -------------------------------------

def silence_from_row(row: SilenceRow) -> Silence:
    return Silence(id=row.id or 0, matchers=tuple(parse_matcher(m) for m in row.matchers),
                   starts_at=row.starts_at, ends_at=row.ends_at, created_by=row.created_by,
                   comment=row.comment, suppress_takeover=row.suppress_takeover)


def create_silence(*, session: Session, matchers: list[str], starts_at: float, ends_at: float,
                   created_by: str, comment: str, suppress_takeover: bool, now: float) -> SilenceRow:
    matchers = [str(parse_matcher(m)) for m in matchers]  # canonical: name op "value"
    row = SilenceRow(matchers=matchers, starts_at=starts_at, ends_at=ends_at, created_by=created_by,
                     comment=comment, suppress_takeover=suppress_takeover)
    session.add(row)
    session.flush()
    record_audit(session=session, now=now, actor=created_by, action="silence.create",
                 subject=f"silence:{row.id}", reason=comment,
                 after={"matchers": matchers, "starts_at": starts_at, "ends_at": ends_at,
                        "suppress_takeover": suppress_takeover})
    return row


def active_silences(*, session: Session, now: float) -> list[Silence]:
    rows = session.exec(select(SilenceRow).where(col(SilenceRow.ends_at) > now))
    return [s for s in map(silence_from_row, rows) if s.active(now)]


def list_silences(*, session: Session, now: float, include_expired: bool = False) -> list[SilenceRow]:
    query = select(SilenceRow)
    if not include_expired:
        query = query.where(col(SilenceRow.ends_at) > now)
    return list(session.exec(query.order_by(col(SilenceRow.id))))


def expire_silence(*, session: Session, silence_id: int, actor: str, now: float) -> SilenceRow | None:
    row = session.get(SilenceRow, silence_id)
    if row is None or row.ends_at <= now:
        return row
    row.ends_at = now
    session.add(row)
    record_audit(session=session, now=now, actor=actor, action="silence.expire",
                 subject=f"silence:{row.id}", after={"ends_at": now})
    return row


def notify_groups(*, session: Session) -> dict[str, NotifyGroupRow]:
    return {g.key: g for g in session.exec(select(NotifyGroupRow))}


def ack_group(*, session: Session, group_id: int, actor: str, now: float) -> NotifyGroupRow | None:
    """Acknowledge a group once (a conditional update: the first acknowledgement wins)."""
    result = session.execute(update(NotifyGroupRow)
                             .where(col(NotifyGroupRow.id) == group_id, col(NotifyGroupRow.acked_by).is_(None))
                             .values(acked_by=actor, acked_at=now)
                             .execution_options(synchronize_session=False))
    row = session.get(NotifyGroupRow, group_id)
    if row is not None:
        session.refresh(row)
    if result.rowcount == 1 and row is not None:  # type: ignore[attr-defined]
        record_audit(session=session, now=now, actor=actor, action="alert.ack",
                     subject=f"group:{row.key}", after={"acked_by": actor})
    return row


def claim_interaction(*, session: Session, key: str, now: float) -> bool:
    """True the first time `key` is seen; a retried delivery or a double click gets False."""
    if session.get(InteractionRow, key) is not None:
        return False
    session.add(InteractionRow(key=key, at=now))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return False
    return True
