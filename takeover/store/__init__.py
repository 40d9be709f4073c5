"""The store: data functions over the tables, keyword-only, each taking the session it works in.

Callers own the transaction: a state change, its audit row and its notification are written in
one commit, so there is never a change without its record or its message. One module per table
family; this package exports them all (`from takeover import store; store.add_source(...)`).
"""

from takeover.store.agents import (
    active_sources,
    add_source,
    control_document,
    control_documents,
    effective_mode,
    ensure_agent,
    expire_sources,
    list_agents,
    release_sources,
)
from takeover.store.alerts import (
    META_GROUP,
    alert_from_row,
    claim_slot,
    fingerprint,
    list_alerts,
    load_alerts,
    mark_takeover,
    meta_alert,
    save_alerts,
    save_meta_alert,
)
from takeover.store.approvals import (
    IdempotencyConflict,
    approval_public,
    create_approval,
    decide_approval,
    expire_approvals,
    get_approval,
    list_approvals,
)
from takeover.store.audit import (
    AUDIT_LOCK,
    audit_content,
    audit_hash,
    audit_rows,
    record_audit,
    verify_audit,
)
from takeover.store.cluster import (
    Deposed,
    agent_versions,
    decided_since,
    fence,
    new_term,
    prometheus_state,
    revocation_mark,
    save_prometheus_state,
)
from takeover.store.counts import (
    snapshot_counts,
)
from takeover.store.engine import (
    insert_if_missing,
    make_engine,
)
from takeover.store.groups import (
    ack_group,
    claim_interaction,
    notify_groups,
)
from takeover.store.outbox import (
    channel_id,
    claim_outbox,
    enqueue,
    orphan_checks_due,
    posted_message,
    record_post,
    undelivered,
)
from takeover.store.silences import (
    active_silences,
    create_silence,
    expire_silence,
    list_silences,
    silence_from_row,
)
from takeover.store.tokens import (
    create_token,
    find_token,
    hash_token,
    list_tokens,
    revoke_token,
    token_public,
)

__all__ = [
    "AUDIT_LOCK",
    "Deposed",
    "IdempotencyConflict",
    "META_GROUP",
    "ack_group",
    "active_silences",
    "active_sources",
    "add_source",
    "agent_versions",
    "alert_from_row",
    "approval_public",
    "audit_content",
    "audit_hash",
    "audit_rows",
    "channel_id",
    "claim_interaction",
    "claim_outbox",
    "claim_slot",
    "control_document",
    "control_documents",
    "create_approval",
    "create_silence",
    "create_token",
    "decide_approval",
    "decided_since",
    "effective_mode",
    "enqueue",
    "ensure_agent",
    "expire_approvals",
    "expire_silence",
    "expire_sources",
    "fence",
    "find_token",
    "fingerprint",
    "get_approval",
    "hash_token",
    "insert_if_missing",
    "list_agents",
    "list_alerts",
    "list_approvals",
    "list_silences",
    "list_tokens",
    "load_alerts",
    "mark_takeover",
    "make_engine",
    "meta_alert",
    "new_term",
    "notify_groups",
    "orphan_checks_due",
    "posted_message",
    "prometheus_state",
    "record_audit",
    "record_post",
    "release_sources",
    "revocation_mark",
    "revoke_token",
    "save_alerts",
    "save_meta_alert",
    "save_prometheus_state",
    "silence_from_row",
    "snapshot_counts",
    "token_public",
    "undelivered",
    "verify_audit",
]
