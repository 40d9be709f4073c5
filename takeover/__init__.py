"""takeover: alerting and human takeover for AI agent systems.

The agent SDK is `takeover.sdk` (needs only httpx); everything else is the server
(`pip install 'takeover[server]'`).
"""

__version__ = "0.1.0"
