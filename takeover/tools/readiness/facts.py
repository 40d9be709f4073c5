"""Gathering the facts (the only I/O): the rule and routing files, the database and Prometheus."""

from __future__ import annotations

from pathlib import Path

from takeover.config.yamlfile import ConfigError
from takeover.rules.format import Rule
from takeover.server.settings import Settings
from takeover.tools.readiness.assessment import Facts, active_operators

PROMETHEUS_TIMEOUT = 3.0  # seconds: a readiness check should not hang on a dead Prometheus


def gather_facts(settings: Settings, *, now: float, timeout: float = PROMETHEUS_TIMEOUT) -> Facts:
    """Read the rule and routing files, the database and Prometheus as `settings` point to."""
    from takeover.notify.routing import Routing, load_routing
    from takeover.rules.format import load_rules

    slack_users = 0
    routing_errors: tuple[str, ...] = ()
    routing = Routing(default_channel=settings.slack_channel)
    try:
        routing = load_routing(settings.routing, default_channel=settings.slack_channel)
        slack_users = len(routing.slack_users)
    except ConfigError as exc:
        routing_errors = tuple(map(str, exc.errors))
    rules: tuple[Rule, ...] = ()
    rule_errors: tuple[str, ...] = ()
    try:
        rules = tuple(r for g in load_rules(settings.rules, defaults=routing.rule_defaults) for r in g.rules)
    except ConfigError as exc:
        rule_errors = tuple(map(str, exc.errors))
    operators, checked, broken, db_error = _read_database(settings.database_url, now=now)
    return Facts(rules=rules, rule_errors=rule_errors, operators=operators,
                 slack_signing_secret=bool(settings.slack_signing_secret and settings.slack_signing_secret.get_secret_value()),
                 slack_token=bool(settings.slack_token and settings.slack_token.get_secret_value()),
                 slack_users=slack_users, routing_errors=routing_errors,
                 audit_checked=checked, audit_broken=broken, database_error=db_error,
                 prometheus_url=settings.prometheus_url,
                 prometheus_error=_prometheus_error(settings.prometheus_url, timeout=timeout))


def _read_database(url: str, *, now: float) -> tuple[tuple[str, ...], int, str | None, str | None]:
    """(active operators, audit rows verified, the broken row, why the database is unreadable)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError
    from sqlmodel import Session

    from takeover import store
    from takeover.store.migrate import DatabaseBehind

    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        return (), 0, None, f"TAKEOVER_DATABASE_URL is not a database URL: {exc}"
    shown = parsed.render_as_string(hide_password=True)
    # a check must not create the database it is asked about (make_engine would, for SQLite)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(str(parsed.database)).exists():
        return (), 0, None, f"no database at {parsed.database}: takeover serve (or takeover db upgrade) creates it"
    try:
        engine = store.make_engine(url)
    except DatabaseBehind as exc:
        return (), 0, None, str(exc)
    except SQLAlchemyError as exc:
        return (), 0, None, f"cannot open {shown}: {str(exc).splitlines()[0]}"
    try:
        with Session(engine) as session:
            operators = active_operators(store.list_tokens(session=session), now=now)
            checked, bad = store.verify_audit(session=session)
    except SQLAlchemyError as exc:
        return (), 0, None, f"cannot read {shown}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()
    broken = None if bad is None else f"row {bad.id} ({bad.action} by {bad.actor} at {bad.at})"
    return operators, checked, broken, None


def _prometheus_error(url: str, *, timeout: float) -> str | None:
    import httpx

    try:
        response = httpx.get(f"{url.rstrip('/')}/-/ready", timeout=timeout)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return f"GET /-/ready failed: {type(exc).__name__}: {exc}"
    if response.status_code != 200:
        return f"GET /-/ready answered {response.status_code}: {response.text.strip()[:200]}"
    return None
