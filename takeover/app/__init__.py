"""What a person, an agent or an alert does: each operation validates, changes, audits,
queues its message and commits once. Imports store, notify, control, rules, config."""
