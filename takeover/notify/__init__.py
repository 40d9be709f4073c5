"""Notifications: routing, grouping with Alertmanager's timings, templates, the outbox's delivery
and the Slack client. Imports store, control, rules, config."""
