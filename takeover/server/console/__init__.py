"""The operator console: server-rendered pages under /ui (Jinja2, vendored htmx) over a session
cookie; each form calls the same takeover.app operation as the API. Imports app and below, and server's service."""

from takeover.server.console.app import create_console

__all__ = ["create_console"]
