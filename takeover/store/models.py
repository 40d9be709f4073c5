"""Database tables (SQLModel). Times are float seconds since the epoch, UTC."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel


class AlertRow(SQLModel, table=True):
    """One labelset of one rule: the evaluator's state, restored exactly after a restart."""

    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("rule_key", "fingerprint"),)
    id: int | None = Field(default=None, primary_key=True)
    group_key: str = Field(index=True)
    rule_key: str
    fingerprint: str
    labels: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    annotations: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    state: str
    value: float
    active_at: float
    fired_at: float | None = None
    resolved_at: float | None = None
    keep_firing_since: float | None = None
    # what its firing did to agents: {"agent", "before", "after", "ref"} (shown in its message)
    takeover: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class GroupRow(SQLModel, table=True):
    """Per rule group: the last evaluated slot (so a slot is never evaluated twice), and what its
    evaluation left for every replica to report: who evaluated it, how long its queries took,
    and each rule's outcome ({rule key: "" when it succeeded, else its error})."""

    __tablename__ = "rule_group"
    key: str = Field(primary_key=True)
    last_eval_at: float = 0.0
    evaluated_by: str = ""
    duration: float = 0.0
    health: dict[str, str] | None = Field(default=None, sa_column=Column(JSON))


class GroupSlotRow(SQLModel, table=True):
    """One evaluated slot of one group, by whom: the record that every slot was evaluated once
    (the key makes a second evaluation impossible). Kept for an hour."""

    __tablename__ = "rule_group_slot"
    group_key: str = Field(primary_key=True)
    slot: float = Field(primary_key=True)
    replica: str
    finished_at: float = Field(index=True)


class ReplicaRow(SQLModel, table=True):
    """A live `takeover serve` process on a shared database: it beats every second (the
    database's clock), and how its own Prometheus queries go. Rule groups are shared among
    the replicas that beat."""

    __tablename__ = "replica"
    id: str = Field(primary_key=True)
    started_at: float
    seen_at: float = Field(index=True)
    failing_since: float | None = None  # its queries have failed since; None after a success
    queried: bool = False  # whether it has asked Prometheus anything yet (else: it cannot tell)
    last_error: str = ""
    groups: int = 0  # how many rule groups it evaluates


class AgentRow(SQLModel, table=True):
    __tablename__ = "agent"
    name: str = Field(primary_key=True)
    version: int = 1
    created_at: float
    canary_ratio: float | None = None  # share of traffic a team routes to a new agent version
    last_seen_at: float | None = None  # the agent's last control poll (kept within a few seconds)


class AgentInstanceRow(SQLModel, table=True):
    """One running instance of an agent (the SDK's random id): when it last polled and the
    version of the control document it then held. Kept an hour after its last poll."""

    __tablename__ = "agent_instance"
    agent: str = Field(primary_key=True)
    instance: str = Field(primary_key=True)
    seen_at: float = Field(index=True)
    version: int = 0


class SourceRow(SQLModel, table=True):
    """A reason an agent (or `*`, every agent) is in a mode; released rows are kept for history."""

    __tablename__ = "mode_source"
    id: int | None = Field(default=None, primary_key=True)
    agent: str = Field(index=True)
    mode: str
    kind: str
    ref: str
    reason: str
    actor: str
    since: float
    expires_at: float | None = None
    released_at: float | None = Field(default=None, index=True)
    released_by: str | None = None
    # a grant's scope: {"policy", "approval", "bounds": {path: upper bound}} (control.grants)
    covers: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class OutboxRow(SQLModel, table=True):
    """A notification to deliver, written in the transaction of the change that causes it."""

    __tablename__ = "outbox"
    id: int | None = Field(default=None, primary_key=True)
    message_key: str = Field(index=True)  # one Slack message per key: posted once, then updated
    channel: str
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: float
    sent_at: float | None = Field(default=None, index=True)
    attempts: int = 0
    last_error: str | None = None
    # the leader term that last claimed the row for a Slack call: a claim by an older term whose
    # row is still unsent is "in doubt" (the post may have reached Slack): look before posting again
    claim_term: int | None = None
    claimed_at: float | None = None
    claimed_by: str | None = None  # host:pid of the claiming process
    next_attempt_at: float | None = None  # after a failure that may pass later: not tried before this
    fallback: str | None = None  # the fallback stage reached after Slack refused the message as it was
    # every way of delivering it failed: kept (never dropped), counted, shown in the console
    undeliverable_at: float | None = Field(default=None, index=True)
    # a person read it and let it go (the console's or the API's dismiss): no longer counted
    dismissed_at: float | None = None
    dismissed_by: str | None = None


class MessageRow(SQLModel, table=True):
    """A posted Slack message: where later notifications with the same key update in place."""

    __tablename__ = "slack_message"
    key: str = Field(primary_key=True)
    channel: str
    ts: str
    # posted again after an in-doubt claim found nothing: look for an orphaned copy after this time
    orphan_check_at: float | None = None


class SlackChannelRow(SQLModel, table=True):
    """A channel name (`#alerts`) and the id Slack answered for it: history is read by id."""

    __tablename__ = "slack_channel"
    name: str = Field(primary_key=True)
    id: str


class LeaderTermRow(SQLModel, table=True):
    """One row: the leader's lease. `term` is bumped by each new leader; every leader transaction
    reads it (FOR SHARE) and stops when it moved on, so a deposed leader makes no further side
    effect. `expires_at` (the database's clock) is the lease's deadline, renewed by its holder."""

    __tablename__ = "leader_term"
    id: int = Field(default=1, primary_key=True)
    term: int = 0
    holder: str = ""
    since: float = 0.0
    expires_at: float = 0.0


class PrometheusStateRow(SQLModel, table=True):
    """One row: since when every query has failed (the outage clock), shared by all replicas,
    so the fail-safe and the meta-alert survive a failover and followers report the truth."""

    __tablename__ = "prometheus_state"
    id: int = Field(default=1, primary_key=True)
    failing_since: float | None = None
    last_error: str = ""
    updated_at: float = 0.0


class TokenRow(SQLModel, table=True):
    __tablename__ = "token"
    id: int | None = Field(default=None, primary_key=True)
    name: str
    role: str
    agents: list[str] = Field(sa_column=Column(JSON, nullable=False))
    token_hash: str = Field(unique=True)
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    person: str | None = None  # who holds it (one person, one vote); None: derived from the name


class AuditRow(SQLModel, table=True):
    """Append-only trail of critical actions; `hash` chains each row to the one before."""

    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    at: float = Field(index=True)
    actor: str = Field(index=True)
    action: str = Field(index=True)
    subject: str = Field(index=True)
    before: Any = Field(default=None, sa_column=Column(JSON))
    after: Any = Field(default=None, sa_column=Column(JSON))
    reason: str = ""
    request_id: str = ""
    prev_hash: str = ""
    hash: str = ""


class ApprovalRow(SQLModel, table=True):
    """A high-risk action waiting for a human: pending → approved | rejected | expired | cancelled."""

    __tablename__ = "approval"
    __table_args__ = (UniqueConstraint("agent", "idempotency_key"),)
    id: str = Field(primary_key=True)
    agent: str = Field(index=True)
    action: str
    kind: str
    risk: str
    reason: str = ""
    args_proposed: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    args_approved: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    responders: list[str] = Field(sa_column=Column(JSON, nullable=False))  # "role:operator", "operator:alice"
    status: str = Field(index=True)
    requested_by: str
    requested_at: float
    expires_at: float = Field(index=True)
    decided_at: float | None = None
    decided_by: str | None = None
    comment: str | None = None
    idempotency_key: str | None = None
    # what the policy that asked for it requires (control.policy.Approval)
    policy: str = ""  # name (file:line)
    quorum: int = 1
    approvals: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    revision: int = 0  # bumped by every approval: quorum votes are compare-and-set on it
    forbidden: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # may not approve
    escalation: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    escalated: int = 0  # escalation steps already posted
    grant_max: float = 0.0
    args_digest: str | None = None  # sha256 of the effective arguments the decision covers
    executed_at: float | None = None
    executed_by: str | None = None  # who ran it: an approval runs once
    delivery_error: str | None = None  # why its Slack message reached no channel (no human was asked there)


class NotifyGroupRow(SQLModel, table=True):
    """One Slack message per group of alerts (Alertmanager's aggregation group)."""

    __tablename__ = "notify_group"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # channel + group_by label values
    channel: str
    owner: str
    message_key: str  # outbox key of this episode's message
    first_seen: float
    last_flush: float | None = None
    sent_firing: list[str] = Field(sa_column=Column(JSON, nullable=False))
    sent_resolved: list[str] = Field(sa_column=Column(JSON, nullable=False))
    acked_by: str | None = None
    acked_at: float | None = None
    escalated: int = 0
    sent_held: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))


class SilenceRow(SQLModel, table=True):
    __tablename__ = "silence"
    id: int | None = Field(default=None, primary_key=True)
    matchers: list[str] = Field(sa_column=Column(JSON, nullable=False))
    starts_at: float
    ends_at: float = Field(index=True)
    created_by: str
    comment: str
    suppress_takeover: bool = False


class InteractionRow(SQLModel, table=True):
    """A Slack interaction already applied: a retried delivery or a double click is applied once."""

    __tablename__ = "slack_interaction"
    key: str = Field(primary_key=True)
    at: float


class ReleaseRow(SQLModel, table=True):
    """A release of a new agent version: its plan and where it stands (control.release)."""

    __tablename__ = "agent_release"
    id: int | None = Field(default=None, primary_key=True)
    agent: str = Field(index=True)
    # the agent's name while the release is active, NULL after: unique, so one active release per agent
    active_agent: str | None = Field(default=None, unique=True)
    stable: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # {"version": id, ...descriptor}
    canary: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    plan: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # steps_bp, every, checks, gate, hold, …
    state: str
    step: int = 0
    weight_bp: int = 0
    step_since: float
    failures: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    inconclusive: int = 0
    reason: str = ""
    started_at: float
    started_by: str
    ended_at: float | None = None
    gate_approval_id: str | None = None  # the promotion gate's approval request
    revision: int = 0  # bumped by every saved transition: each is a compare-and-set on it


class ConsoleSessionRow(SQLModel, table=True):
    """A person signed in to the console: keyed by the SHA-256 of the cookie's secret (never the
    secret), tied to the token that opened it, so revoking the token ends the session."""

    __tablename__ = "console_session"
    id_hash: str = Field(primary_key=True)
    token_id: int = Field(index=True)
    created_at: float
    expires_at: float = Field(index=True)
    notice: str | None = None  # what the last form did, shown once on the next page
    notice_error: bool = False


class ShadowVerdictRow(SQLModel, table=True):
    """A shadow policy's would-be verdict on one action (the audit row `audit_id` has it in its
    detail too); counted per policy for the policy view."""

    __tablename__ = "policy_shadow_verdict"
    id: int | None = Field(default=None, primary_key=True)
    at: float = Field(index=True)
    policy: str = Field(index=True)
    decision: str  # allow | approval_required | deny
    changes: bool  # differs from what the agent was told
    agent: str
    action: str
    audit_id: int
