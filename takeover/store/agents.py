"""Agents and the sources that hold them in a mode; the control documents they poll.

A change returns a `ModeChange` value: the caller queues its message in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import case, delete, func, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from takeover.config.mode import ALL_AGENTS, Mode
from takeover.control.document import control_document as build_document
from takeover.control.sources import ModeChange, Source, SourceKind, resolve_mode
from takeover.store.audit import record_audit
from takeover.store.engine import insert_if_missing
from takeover.store.models import (
    AgentInstanceRow,
    AgentRow,
    AuditRow,
    SourceRow,
)
from takeover.store.releases import latest_releases, release_document


def _source_from_row(row: SourceRow) -> Source:
    return Source(
        agent=row.agent, mode=Mode[row.mode], kind=SourceKind(row.kind), ref=row.ref,
        reason=row.reason, actor=row.actor, since=row.since, expires_at=row.expires_at,
        id=row.id or 0, covers=row.covers,
    )


def ensure_agent(*, session: Session, name: str, now: float) -> AgentRow:
    """The agent's row, created if missing; safe when replicas (or a poll and an alert) race."""
    agent = session.get(AgentRow, name)
    if agent is None:
        insert_if_missing(session, AgentRow, "name", name=name, created_at=now, version=1)
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


def agent_exists(*, session: Session, name: str) -> bool:
    return session.get(AgentRow, name) is not None


def effective_mode(*, session: Session, agent: str, now: float) -> Mode:
    return resolve_mode(active_sources(session=session, now=now), agent=agent, now=now)


def add_source(*, session: Session, source: Source, now: float) -> ModeChange:
    """Hold `source.agent` in a mode; audited with before/after. A hold stricter than normal,
    whatever its kind (an override, an alert, the fail-safe, a release), is a takeover: it ends
    the grants of the agent (of every agent for `*`)."""
    if source.agent != ALL_AGENTS:
        ensure_agent(session=session, name=source.agent, now=now)
    before = effective_mode(session=session, agent=source.agent, now=now)
    if source.mode != Mode.normal:
        end_grants(session=session, agent=source.agent, actor=source.actor, now=now,
                   reason=f"a takeover ends grants: {source.kind.value} {source.mode.name} ({source.reason})")
    row = SourceRow(agent=source.agent, mode=source.mode.name, kind=source.kind.value,
                    ref=source.ref, reason=source.reason, actor=source.actor, since=source.since,
                    expires_at=source.expires_at, covers=dict(source.covers) if source.covers is not None else None)
    session.add(row)
    session.flush()
    after = effective_mode(session=session, agent=source.agent, now=now)
    record_audit(session=session, now=now, actor=source.actor, action=f"mode.{source.kind.value}",
                 subject=f"agent:{source.agent}", before=before.name, after=after.name,
                 reason=source.reason)
    return ModeChange(source.agent, before, after, source.actor, source.reason,
                      tuple(_bump(session=session, agent=source.agent)))


def end_grants(*, session: Session, agent: str, actor: str, now: float, reason: str) -> list[int]:
    """Release the active grants of `agent` (every agent's for `*`), each audited; their ids."""
    query = select(SourceRow).where(SourceRow.kind == SourceKind.grant.value, col(SourceRow.released_at).is_(None))
    if agent != ALL_AGENTS:
        query = query.where(SourceRow.agent == agent)
    ended = []
    for row in session.exec(query):
        row.released_at, row.released_by = now, actor
        session.add(row)
        record_audit(session=session, now=now, actor=actor, action="mode.grant_ended", subject=f"agent:{row.agent}",
                     before={"grant": row.id, "action": row.ref, "covers": row.covers}, reason=reason)
        ended.append(row.id or 0)
    if ended:
        session.flush()
    return ended


def release_sources(
    *, session: Session, agent: str, actor: str, reason: str, now: float,
    source_id: int | None = None, kind: SourceKind | None = None, ref: str | None = None,
) -> ModeChange | None:
    """Release the sources held on `agent` (all, or the one `source_id`, or those of `kind`/`ref`).

    Only `*` releases the all-agents sources. None when nothing was held."""
    query = select(SourceRow).where(SourceRow.agent == agent, col(SourceRow.released_at).is_(None))
    if source_id is not None:
        query = query.where(SourceRow.id == source_id)
    if kind is not None:
        query = query.where(SourceRow.kind == kind.value)
    if ref is not None:
        query = query.where(SourceRow.ref == ref)
    rows = list(session.exec(query))
    if not rows:
        return None
    before = effective_mode(session=session, agent=agent, now=now)
    for row in rows:
        row.released_at = now
        row.released_by = actor
        session.add(row)
    session.flush()
    after = effective_mode(session=session, agent=agent, now=now)
    record_audit(session=session, now=now, actor=actor, action="mode.release",
                 subject=f"agent:{agent}", before=before.name, after=after.name, reason=reason)
    return ModeChange(agent, before, after, actor, reason, tuple(_bump(session=session, agent=agent)))


def expire_sources(*, session: Session, now: float) -> list[ModeChange]:
    """Release the sources whose expiry has passed (audited as the system)."""
    rows = list(session.exec(select(SourceRow).where(col(SourceRow.released_at).is_(None),
                                                     col(SourceRow.expires_at) <= now)))
    changes = [release_sources(session=session, agent=row.agent, source_id=row.id,
                               actor="system:expiry", reason=f"expired: {row.reason}", now=now) for row in rows]
    return [c for c in changes if c is not None]


def control_documents(*, session: Session, agents: Iterable[str], now: float) -> dict[str, dict[str, Any]]:
    """The documents the agents poll (see `control.document`), read in one pass.

    Built from one read of the active sources, so a change to every agent costs one query.
    Versions are read before sources (see `list_agents`)."""
    names = list(agents)
    rows = {a.name: a for a in session.exec(select(AgentRow).where(col(AgentRow.name).in_(names)))}
    sources = active_sources(session=session, now=now)
    releases = latest_releases(session=session, agents=list(rows))
    return {name: build_document(agent=name, version=row.version, canary_ratio=row.canary_ratio,
                                 sources=sources, now=now, release=release_document(releases.get(name)))
            for name, row in rows.items()}


def control_document(*, session: Session, agent: str, now: float) -> dict[str, Any] | None:
    return control_documents(session=session, agents=[agent], now=now).get(agent)


def list_agents(*, session: Session, now: float, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Every agent (or those named): mode, version and last poll, by name."""
    # versions before sources: a change between the two reads pairs an old version with the
    # new mode (the next read shows a newer version), never a new version with the old mode
    query = select(AgentRow).order_by(col(AgentRow.name))
    if names is not None:
        query = query.where(col(AgentRow.name).in_(list(names)))
    agents = list(session.exec(query))
    sources = active_sources(session=session, now=now)
    return [{"agent": a.name, "mode": resolve_mode(sources, agent=a.name, now=now).name,
             "version": a.version, "last_seen": a.last_seen_at} for a in agents]


# One statement for a whole flush, with the marks as one JSON parameter ({agent: time}): it
# compiles once and costs the server about a millisecond for 1,000 agents (a CASE per batch
# took 40-120 ms of the GIL, measured). An earlier time never overwrites a later one.
RECORD_POLLS = {
    "postgresql": "UPDATE agent SET last_seen_at = CAST(p.value AS double precision) "
                  "FROM json_each_text(CAST(:polls AS json)) AS p WHERE agent.name = p.key "
                  "AND (agent.last_seen_at IS NULL OR agent.last_seen_at < CAST(p.value AS double precision))",
    "sqlite": "UPDATE agent SET last_seen_at = p.value FROM json_each(:polls) AS p WHERE agent.name = p.key "
              "AND (agent.last_seen_at IS NULL OR agent.last_seen_at < p.value)",
}


def record_polls(*, session: Session, seen: Mapping[str, float]) -> None:
    """Write when agents last polled (`agent.last_seen_at`) in one statement; a later time
    already written (by another replica) is kept, and unknown agents are ignored."""
    if seen:
        session.execute(text(RECORD_POLLS[session.get_bind().dialect.name]), {"polls": json.dumps(dict(seen))})


def last_polls(*, session: Session) -> dict[str, float]:
    """When each agent that ever polled last did, as written by `record_polls`."""
    rows = session.exec(select(AgentRow.name, AgentRow.last_seen_at).where(col(AgentRow.last_seen_at).is_not(None)))
    return {name: at for name, at in rows if at is not None}


INSTANCES_KEPT = 3600.0  # seconds an instance is remembered after its last poll


def record_instances(*, session: Session, marks: Mapping[tuple[str, str], tuple[float, int]], now: float) -> None:
    """Write each instance's last poll and the version it then held (the later of what replicas
    wrote is kept), and forget instances silent for INSTANCES_KEPT."""
    rows = [{"agent": agent, "instance": instance, "seen_at": at, "version": version}
            for (agent, instance), (at, version) in marks.items()]
    if rows:
        postgresql = session.get_bind().dialect.name == "postgresql"
        insert = postgresql_insert if postgresql else sqlite_insert
        later = func.greatest if postgresql else func.max  # SQLite's max(a, b) is the scalar one
        stmt = insert(AgentInstanceRow)
        session.execute(stmt.on_conflict_do_update(
            index_elements=["agent", "instance"],
            set_={"seen_at": later(AgentInstanceRow.seen_at, stmt.excluded.seen_at),
                  "version": later(AgentInstanceRow.version, stmt.excluded.version)}), rows)
    session.execute(delete(AgentInstanceRow).where(col(AgentInstanceRow.seen_at) < now - INSTANCES_KEPT))


def agent_instances(*, session: Session, agents: Iterable[str]) -> dict[str, list[tuple[str, float, int]]]:
    """Each agent's instances seen in the last INSTANCES_KEPT seconds: (id, last poll, version held)."""
    found: dict[str, list[tuple[str, float, int]]] = {agent: [] for agent in agents}
    rows = session.exec(select(AgentInstanceRow).where(col(AgentInstanceRow.agent).in_(list(found)))
                        .order_by(col(AgentInstanceRow.instance)))
    for r in rows:
        found[r.agent].append((r.instance, r.seen_at, r.version))
    return found


def unconfirmed_instances(*, session: Session) -> dict[str, int]:
    """Agent -> how many of its instances hold an older document version than its current one."""
    rows = session.exec(select(AgentInstanceRow.agent, func.count())
                        .join(AgentRow, col(AgentRow.name) == col(AgentInstanceRow.agent))
                        .where(col(AgentInstanceRow.version) < col(AgentRow.version))
                        .group_by(col(AgentInstanceRow.agent)))
    return {agent: int(count) for agent, count in rows}


def instance_confirmation(*, session: Session) -> dict[str, tuple[int, int, int]]:
    """Agent -> (its current version, its instances seen in the last hour, how many of them hold
    an older version)."""
    behind = func.sum(case((col(AgentInstanceRow.version) < col(AgentRow.version), 1), else_=0))
    rows = session.exec(select(AgentInstanceRow.agent, func.max(AgentRow.version), func.count(), behind)
                        .join(AgentRow, col(AgentRow.name) == col(AgentInstanceRow.agent))
                        .group_by(col(AgentInstanceRow.agent)))
    return {agent: (int(version), int(count), int(late or 0)) for agent, version, count, late in rows}


def last_confirmed(*, session: Session, agent: str) -> int | None:
    """The document version the agent's latest `agent.confirmed` audit row names."""
    after = session.exec(select(AuditRow.after).where(col(AuditRow.action) == "agent.confirmed",
                                                      col(AuditRow.subject) == f"agent:{agent}")
                         .order_by(col(AuditRow.id).desc()).limit(1)).first()
    return int(after["version"]) if isinstance(after, dict) and "version" in after else None
