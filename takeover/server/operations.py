"""The one builder of the running service's operations (`takeover.app.App`): routing, policies
and message templates as the settings name them. `takeover serve`, every CLI command that
changes something and the demo build it here, so a change made anywhere is routed, decided and
announced alike (a release started from the CLI is posted to its agent's owner)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sqlmodel import Session

from takeover.app.context import App, Limits
from takeover.app.messages import Messages
from takeover.control.policy import Policy
from takeover.notify.routing import Routing
from takeover.notify.templates import template_env
from takeover.server.settings import Settings

PACKAGED_TEMPLATES = Path(__file__).resolve().parent.parent / "defaults" / "templates"


def templates_dir(settings: Settings) -> str:
    """The message templates in use: TAKEOVER_TEMPLATES; unset, `./templates` when it exists
    (a checkout, or a copy from `takeover init`), else the defaults shipped in the package."""
    if settings.templates is not None:
        return settings.templates
    return "templates" if Path("templates").is_dir() else str(PACKAGED_TEMPLATES)


def build_app(settings: Settings, *, routing: Routing, policies: tuple[Policy, ...],
              sessions: Callable[[], Session], clock: Callable[[], float],
              changed: Callable[[Sequence[str]], None] | None = None, signal: Callable[[str], None] | None = None,
              wake: Callable[[str], None] | None = None,
              decided_after: Callable[[float], None] | None = None,
              shadow_decided: Callable[[str, str], None] | None = None) -> App:
    """The operations' handle; the effects (`changed`, `signal`, `wake`, `decided_after`,
    `shadow_decided`) are the running server's — a CLI process leaves them out, and the server
    hears of its change through the database (the change feed)."""
    effects = {name: f for name, f in (("changed", changed), ("signal", signal), ("wake", wake),
                                       ("decided_after", decided_after), ("shadow_decided", shadow_decided))
               if f is not None}
    return App(sessions=sessions, clock=clock,
               messages=Messages(template_env(templates_dir(settings)), routing, settings.slack_channel),
               limits=Limits(settings.approval_expiry, settings.approval_max_expiry), policies=policies,
               **effects)  # type: ignore[arg-type]
