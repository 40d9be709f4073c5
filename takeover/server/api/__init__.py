"""The HTTP API: one router per resource with its models beside it, dependencies in `deps`, assembled in `app`.
It imports takeover.app and the layers below, and server's service, hub, auth, edge, interactions, metrics."""

from takeover.server.api.app import asgi_app, create_app
from takeover.server.api.fastpath import ControlFastPath

__all__ = ["ControlFastPath", "asgi_app", "create_app"]
