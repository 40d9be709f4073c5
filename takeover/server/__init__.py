"""The running service: FastAPI app, control fast path, hub, replicas, scheduler wiring,
metrics, logs, Slack interactions. Imports app and everything below it."""
