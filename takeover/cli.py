"""The `takeover` command line (typer)."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from takeover.settings import Settings

app = typer.Typer(
    help="takeover: alerting and human takeover for AI agent systems.\n\n"
    "Settings come from environment variables:\n\n" + Settings.describe().replace("\n", "\n\n"),
    no_args_is_help=True,
    rich_markup_mode=None,
)
token_app = typer.Typer(help="Create API tokens (shown once, stored hashed).", no_args_is_help=True)
app.add_typer(token_app, name="token")


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _load_groups(paths: list[str]) -> list:  # type: ignore[type-arg]
    from takeover.rulefile import RuleFileError, load_rules

    try:
        return load_rules(paths)
    except RuleFileError as exc:
        for error in exc.errors:
            typer.echo(str(error), err=True)
        _fail(f"takeover: {len(exc.errors)} problem(s) in rule files; nothing started")
    raise AssertionError("unreachable")


def build_service(settings: Settings):  # type: ignore[no-untyped-def]
    """The service for `settings`: rules loaded (or exit 1), Slack or console notifier."""
    from takeover.notify import ConsoleNotifier, Notifier, SlackNotifier
    from takeover.query import prometheus_query
    from takeover.service import Service

    groups = _load_groups(settings.rules)
    if not Path(settings.templates).is_dir():
        _fail(f"takeover: templates directory {settings.templates!r} does not exist (TAKEOVER_TEMPLATES)")
    notifier: Notifier
    if settings.slack_token is not None:
        notifier = SlackNotifier(token=settings.slack_token.get_secret_value(), base_url=settings.slack_api_url)
    else:
        notifier = ConsoleNotifier()
    return Service(settings, groups=groups, notifier=notifier,
                   query=prometheus_query(settings.prometheus_url, timeout=settings.query_timeout))


def run_server(service, *, host: str, port: int) -> None:  # type: ignore[no-untyped-def]
    """Run the API and the scheduler until interrupted."""
    import uvicorn

    from takeover.api import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(service), host=host, port=port,
                                           log_level="warning", access_log=False))
    service.start()
    try:
        server.run()
    finally:
        service.stop()


@app.command()
def serve() -> None:
    """Run the service: the control API and the rule evaluator (configure with TAKEOVER_*)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    service = build_service(settings)
    logging.getLogger("takeover").info(
        "serving on http://%s:%d with %d rule group(s) against %s", settings.host, settings.port,
        len(service.groups), settings.prometheus_url)
    run_server(service, host=settings.host, port=settings.port)


@app.command()
def check(paths: Annotated[Optional[list[str]], typer.Argument(help="rule files or directories (default: TAKEOVER_RULES)")] = None) -> None:
    """Validate rule files without a server: every problem as file:line:column, exit 1 if any."""
    groups = _load_groups(paths or Settings().rules)
    rules = sum(len(g.rules) for g in groups)
    typer.echo(f"SUCCESS: {rules} rules in {len(groups)} groups are valid")


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="agent, operator or admin")],
    name: Annotated[Optional[str], typer.Option(help="who holds the token (default: the agent name)")] = None,
    agent: Annotated[Optional[list[str]], typer.Option(help="agent name(s) an agent token is bound to")] = None,
) -> None:
    """Print a new bearer token (shown once; only its hash is stored)."""
    from sqlmodel import Session

    from takeover import store
    from takeover.auth import Role, new_token

    if role not in Role.__members__:
        _fail(f"--role must be one of {', '.join(Role.__members__)}; got {role!r}")
    if role == "agent" and not agent:
        _fail("an agent token needs --agent NAME (the agent it may poll and act for)")
    if role != "agent" and not name:
        _fail(f"a {role} token needs --name NAME (who holds it, for the audit trail)")
    token = new_token()
    engine = store.make_engine(Settings().database_url)
    with Session(engine) as session:
        store.create_token(session=session, name=name or agent[0], role=role,  # type: ignore[index]
                           agents=agent or [], token=token, now=time.time())
        session.commit()
    typer.echo(token)


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="port for the takeover API")] = 8080,
) -> None:
    """Start Prometheus, a demo agent whose error rate climbs, and takeover; watch it take over."""
    from takeover.demo import run_demo

    run_demo(api_port=port)


@app.command("demo-agent")
def demo_agent(port: Annotated[int, typer.Option(help="port for /metrics")] = 9101,
               climb_after: Annotated[float, typer.Option(help="seconds before errors climb")] = 20.0) -> None:
    """Run only the demo agent's metrics exporter (what `takeover demo` and docker-compose scrape)."""
    from takeover.demo import serve_demo_agent

    serve_demo_agent(port=port, climb_after=climb_after, block=True)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
