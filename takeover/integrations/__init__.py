"""Adapters that put takeover where an agent framework pauses for a human, one module per framework.

Each imports `takeover.sdk` only (never the server) and its framework only when it is imported
itself, so `pip install takeover` stays httpx-only; `verdict` is what they share."""
