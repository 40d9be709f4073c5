"""Starting `takeover serve`: the service built from the settings — every rule file, the routing
file and the templates checked first, so it never starts half-configured — and the API and
scheduler run until interrupted."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from sqlmodel import Session

from takeover.app.context import App
from takeover.config.yamlfile import ConfigError
from takeover.control.policy import Policy
from takeover.control.policyfile import load_policies
from takeover.notify.routing import Routing, load_routing
from takeover.notify.slack import ConsoleNotifier, Notifier, SlackNotifier
from takeover.notify.templates import check_templates
from takeover.rules.conventions import Defaults
from takeover.rules.format import Group, load_rules
from takeover.rules.query import prometheus_query
from takeover.server.operations import build_app, templates_dir
from takeover.server.service import Service
from takeover.server.settings import Settings
from takeover.store.migrate import DatabaseBehind

log = logging.getLogger(__name__)


class NotStarted(Exception):
    """The configuration is broken: each problem (file:line[:column]: message) and a summary."""

    def __init__(self, summary: str, problems: Sequence[str] = ()) -> None:
        super().__init__(summary)
        self.summary, self.problems = summary, list(problems)


def _refused(exc: ConfigError, what: str) -> NotStarted:
    return NotStarted(f"takeover: {len(exc.errors)} problem(s) in {what}; nothing started", [str(e) for e in exc.errors])


def load_groups(paths: list[str], defaults: Defaults | None = None) -> list[Group]:
    """The rule files for `takeover serve` and `takeover check`: each recording rule skipped is
    one warning line (Prometheus evaluates them; `takeover test rules` does too)."""
    try:
        groups = load_rules(paths, defaults=defaults)
    except ConfigError as exc:
        raise _refused(exc, "rule files") from None
    for skipped in (s for g in groups for s in g.skipped):
        log.warning("%s", skipped)
    return groups


def load_routing_file(settings: Settings) -> Routing:
    try:
        return load_routing(settings.routing, default_channel=settings.slack_channel)
    except ConfigError as exc:
        raise _refused(exc, "the routing file") from None


def check_template_dir(settings: Settings) -> None:
    templates = templates_dir(settings)
    if not Path(templates).is_dir():
        raise NotStarted(f"takeover: templates directory {templates!r} does not exist (TAKEOVER_TEMPLATES)")
    problems = check_templates(templates, limits=False)  # a message too long is cut when sent
    if problems:
        raise NotStarted(f"takeover: {len(problems)} problem(s) in the message templates; nothing started", problems)


def load_policy_file(settings: Settings) -> tuple[Policy, ...]:
    try:
        return load_policies(settings.policies)
    except ConfigError as exc:
        raise _refused(exc, "the policy file") from None


@dataclass(frozen=True)
class Configuration:
    """The files the operations are built from, each checked: routing, policies, templates."""

    routing: Routing
    policies: tuple[Policy, ...]


def load_configuration(settings: Settings) -> Configuration:
    """The routing file, the policy file and the templates; NotStarted with every problem."""
    routing = load_routing_file(settings)
    policies = load_policy_file(settings)
    check_template_dir(settings)
    return Configuration(routing, policies)


def build_operations(settings: Settings, *, sessions: Callable[[], Session]) -> App:
    """The operations of a process that changes the database beside a running server (the CLI):
    the server's routing, policies and templates; the server hears of the change by its feed."""
    config = load_configuration(settings)
    return build_app(settings, routing=config.routing, policies=config.policies, sessions=sessions, clock=time.time)


def build_service(settings: Settings) -> Service:
    """The service for `settings`: rules loaded, Slack (or, without a token, console) notifier."""
    config = load_configuration(settings)
    routing, policies = config.routing, config.policies
    groups = load_groups(settings.rules, routing.rule_defaults)
    notifier: Notifier
    if settings.slack_token is not None:
        notifier = SlackNotifier(token=settings.slack_token.get_secret_value(), base_url=settings.slack_api_url,
                                 timeout=settings.slack_timeout)
    else:
        notifier = ConsoleNotifier()
    try:
        return Service(settings, groups=groups, notifier=notifier, routing=routing, policies=policies,
                       query=prometheus_query(settings.prometheus_url, timeout=settings.query_timeout))
    except DatabaseBehind as exc:
        raise NotStarted(f"takeover: {exc}") from None


def run_server(service: Service, *, host: str, port: int, on_exit: Callable[[], None] | None = None) -> None:
    """Run the API and the scheduler until interrupted; SIGHUP reloads the rules. On SIGINT or
    SIGTERM, `on_exit` runs first (the demo stops its agents), then held long-polls answer."""
    import uvicorn

    from takeover.server.api import asgi_app

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if on_exit is not None and not self.should_exit:
                on_exit()
            service.hub.close()
            super().handle_exit(sig, frame)

    server = Server(uvicorn.Config(asgi_app(service), host=host, port=port,
                                           log_level="warning", access_log=False,
                                           log_config=None,  # uvicorn logs through ours (JSON)
                                           # held long-polls must not delay a shutdown by their wait
                                           timeout_graceful_shutdown=3))
    signal.signal(signal.SIGHUP, lambda *_: threading.Thread(
        target=service.reload, kwargs={"actor": "system:sighup"}, daemon=True).start())
    service.start()
    try:
        server.run()
    finally:
        service.stop()
