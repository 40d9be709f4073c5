"""The `takeover` command line (typer)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional, TypeVar

import typer

from takeover.server.settings import Settings

if TYPE_CHECKING:
    from sqlmodel import Session

    from takeover.app.context import App

T = TypeVar("T")

app = typer.Typer(
    help="takeover: alerting and human takeover for AI agent systems.\n\n"
    "Settings come from environment variables:\n\n" + Settings.describe().replace("\n", "\n\n"),
    no_args_is_help=True,
    rich_markup_mode=None,
)
token_app = typer.Typer(help="Create, list and revoke API tokens (shown once, stored hashed).", no_args_is_help=True)
app.add_typer(token_app, name="token")
silence_app = typer.Typer(help="Silence notifications of matching alerts (not their takeover, by default).",
                          no_args_is_help=True)
app.add_typer(silence_app, name="silence")
db_app = typer.Typer(help="Database schema migrations (Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")
audit_app = typer.Typer(help="Verify and export the tamper-evident audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
policy_app = typer.Typer(help="Approval policies (TAKEOVER_POLICIES): test them with table cases, replay a "
                              "candidate over the recorded decisions.",
                         no_args_is_help=True)
app.add_typer(policy_app, name="policy")
release_app = typer.Typer(help="Canary releases of a new agent version: start, watch, pause, promote, roll back, "
                               "and the report of what the canary wrote.", no_args_is_help=True)
app.add_typer(release_app, name="release")


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _started(build: Callable[[], T]) -> T:
    """Run a startup step; a broken configuration prints every problem and exits 1."""
    from takeover.server.run import NotStarted

    try:
        return build()
    except NotStarted as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        _fail(exc.summary)


@app.command()
def serve() -> None:
    """Run the service: the control API and the rule evaluator (configure with TAKEOVER_*)."""
    from takeover.server.logs import configure_logging
    from takeover.server.run import build_service, run_server

    settings = Settings()
    configure_logging(settings.log_format)
    service = _started(lambda: build_service(settings))
    logging.getLogger("takeover").info(
        "serving on http://%s:%d with %d rule group(s) against %s", settings.host, settings.port,
        len(service.groups), settings.prometheus_url)
    run_server(service, host=settings.host, port=settings.port)


test_app = typer.Typer(help="Rule unit tests in promtool's format, run through takeover's evaluator.",
                       no_args_is_help=True)
app.add_typer(test_app, name="test")


@test_app.command("rules")
def rules_test(
    files: Annotated[list[str], typer.Argument(help="promtool test files (rule_files, evaluation_interval, tests)")],
    strict: Annotated[bool, typer.Option(help="fail a file whose rules lack takeover's conventions (owner, "
                                              "runbook_url, first_check); without it they are warnings")] = False,
) -> None:
    """Run `promtool test rules` files through takeover's evaluator, each test group against a
    throwaway Prometheus holding its input series. Prints promtool's report (SUCCESS, or FAILED
    with the expected and the got alerts) and exits 1 on any failure. Recording rules and
    promql_expr_test run as in promtool; `stale` inputs, and a rule reading what is recorded
    after it, are reported UNSUPPORTED, which exits 1 too. Rules lacking takeover's conventions
    are tested, with a warning each (`--strict` fails them)."""
    from takeover.tools.ruletest import run_test_files

    raise typer.Exit(run_test_files(files, strict=strict))


@app.command()
def backtest(
    start: Annotated[str, typer.Option(help="RFC3339, unix seconds, now, or relative like -6h")],
    end: Annotated[str, typer.Option(help="RFC3339, unix seconds, now, or relative like -1h")],
    paths: Annotated[Optional[list[str]], typer.Argument(help="rule files or directories (default: TAKEOVER_RULES)")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Replay the rules over history from TAKEOVER_PROMETHEUS_URL, at every slot the live evaluator
    would have used, and report the alert episodes, pages per owner and time in takeover modes."""
    from takeover.server.run import load_routing_file
    from takeover.tools.backtest import run_backtest

    settings = Settings()
    routing = _started(lambda: load_routing_file(settings))
    raise typer.Exit(run_backtest(paths or settings.rules, start=start, end=end, as_json=json_output,
                                  prometheus_url=settings.prometheus_url, timeout=settings.query_timeout,
                                  defaults=routing.rule_defaults))


@app.command()
def check(paths: Annotated[Optional[list[str]], typer.Argument(help="rule files or directories (default: TAKEOVER_RULES)")] = None) -> None:
    """Validate rule files, the routing file and the message templates without a server:
    every problem as file:line:column, exit 1 if any. Lists each default the routing file gave a
    rule (owner by matchers, runbook URL, first check) and each recording rule skipped."""
    from takeover.server.run import check_template_dir, load_groups, load_policy_file, load_routing_file

    routing = _started(lambda: load_routing_file(Settings()))
    groups = _started(lambda: load_groups(paths or Settings().rules, routing.rule_defaults))
    policies = _started(lambda: load_policy_file(Settings()))
    _started(lambda: check_template_dir(Settings()))
    defaulted = [r for g in groups for r in g.rules if r.defaults]
    for rule in defaulted:
        took = "; ".join(f"{name}={_short(rule.labels.get(name) or rule.annotations[name])} from {source}"
                         for name, source in rule.defaults.items())
        typer.echo(f'{rule.file}:{rule.line}:{rule.column}: alert "{rule.name}" takes {took}')
    rules, records = sum(len(g.rules) for g in groups), sum(len(g.records) for g in groups)
    notes = [f"{len(defaulted)} took defaults from the routing file"] if defaulted else []
    notes += [f"{records} recording rules skipped"] if records else []
    notes += [f"{len(policies)} approval policies"] if policies else []
    typer.echo(f"SUCCESS: {rules} rules in {len(groups)} groups are valid" + (f" ({', '.join(notes)})" if notes else ""))


@app.command()
def init(directory: Annotated[str, typer.Argument(help="where to write the copies (made if missing)")] = ".") -> None:
    """Write editable copies of what the package ships into DIRECTORY: the Slack message
    templates (templates/), example rules (rules/), a routing file and a policy file with its
    table cases. An existing file is kept, never overwritten. Prints the settings that use them."""
    from importlib.resources import as_file, files

    target = Path(directory)
    with as_file(files("takeover.defaults")) as shipped:
        sources = sorted([*shipped.glob("templates/*.j2"), *shipped.glob("rules/*.yml"), shipped / "routing.yml",
                          shipped / "policies.yml", shipped / "policies.test.yml"])
        for source in sources:
            dest = target / source.relative_to(shipped)
            if dest.exists():
                typer.echo(f"kept {dest} (exists)")
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(source.read_bytes())
            typer.echo(f"wrote {dest}")
    typer.echo(f"\nuse them with:\n  export TAKEOVER_RULES={target / 'rules'} TAKEOVER_TEMPLATES={target / 'templates'} "
               f"TAKEOVER_ROUTING={target / 'routing.yml'} TAKEOVER_POLICIES={target / 'policies.yml'}\n"
               f"  takeover check")


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit - 1] + "…")


def _sessions() -> "Session":
    from sqlmodel import Session

    from takeover import store
    from takeover.store.migrate import DatabaseBehind

    try:
        return Session(store.make_engine(Settings().database_url), expire_on_commit=False)
    except DatabaseBehind as exc:
        _fail(f"takeover: {exc}")


def _app() -> "App":
    """The operations' handle for one CLI command: the same `takeover.app` operations, routing,
    policies and templates as `takeover serve` (`takeover.server.run.build_operations`); a
    running server on the same database hears of the change within a second (its change feed)."""
    from sqlmodel import Session

    from takeover.server.run import build_operations

    engine = _sessions().get_bind()
    return _started(lambda: build_operations(Settings(), sessions=lambda: Session(engine, expire_on_commit=False)))


def _operation(run: Callable[[], T]) -> T:
    """Run an operation; a refusal prints its message and exits 1."""
    from takeover.app.errors import Refusal

    try:
        return run()
    except Refusal as exc:
        _fail(str(exc.detail["message"] if isinstance(exc.detail, dict) else exc.detail))


def _cli_actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


@app.command()
def agents() -> None:
    """List the known agents: mode, version, and when each last polled (written by the servers
    every few seconds); an agent silent past TAKEOVER_SILENT_AFTER is marked."""
    from takeover import store

    now, silent_after = time.time(), Settings().silent_after
    with _sessions() as session:
        rows = store.list_agents(session=session, now=now)
    typer.echo("agent\tmode\tversion\tlast poll")
    for row in rows:
        seen = row["last_seen"]
        ago = "never" if seen is None else f"{now - seen:.0f}s ago" + (" (silent)" if now - seen > silent_after else "")
        typer.echo(f"{row['agent']}\t{row['mode']}\t{row['version']}\t{ago}")


@app.command()
def replicas() -> None:
    """List the `takeover serve` processes sharing this database (PostgreSQL): when each last
    beat, how many rule groups it evaluates, whether its Prometheus queries fail, which one leads
    (dispatch and delivery). A replica unseen for 3 s has had its groups taken over."""
    from takeover import store
    from takeover.server.sharing import LIVE_WITHIN

    with _sessions() as session:
        now = store.database_now(session=session)
        rows = store.live_replicas(session=session, since=0.0)
        leader = store.leader_term(session=session)
    if not rows:
        typer.echo("no replica has beaten here (with SQLite the one `takeover serve` evaluates every group)")
        return
    typer.echo("replica\tlast beat\tgroups\tPrometheus\tleader")
    for row in rows:
        live = now - row.seen_at <= LIVE_WITHIN
        beat = f"{now - row.seen_at:.1f}s ago" + ("" if live else " (gone: its groups moved)")
        queries = "ok" if row.failing_since is None else f"failing for {now - row.failing_since:.0f}s"
        lead = f"term {leader.term}" if leader is not None and leader.holder == row.id else ""
        typer.echo(f"{row.id}\t{beat}\t{row.groups if live else 0}\t{queries}\t{lead}")


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="agent, viewer (console, read-only), operator, admin, or alertmanager (its webhook only)")],
    name: Annotated[Optional[str], typer.Option(help="who holds the token (default: the agent name)")] = None,
    agent: Annotated[Optional[list[str]], typer.Option(help="agent name(s) an agent token is bound to")] = None,
    expires_in: Annotated[Optional[str], typer.Option(help="duration, e.g. 90d; default: never")] = None,
    person: Annotated[Optional[str], typer.Option(help="the person who holds it (default: the name without a "
                                                       "role prefix); approvals count one vote per person")] = None,
) -> None:
    """Print a new bearer token (shown once; only its hash is stored)."""
    from takeover.config.duration import parse_duration
    from takeover.control.principal import Role

    if role not in Role.__members__:
        _fail(f"--role must be one of {', '.join(Role.__members__)}; got {role!r}")
    if role == "agent" and not agent:
        _fail("an agent token needs --agent NAME (the agent it may poll and act for)")
    if role != "agent" and not name:
        _fail(f"a {role} token needs --name NAME (who holds it, for the audit trail)")
    from takeover.control.validation import MAX_NAME, check_agent, check_text

    try:
        for one in agent or []:
            check_agent(one)  # `*` too: a token for every agent is an operator's
        check_text(name or "", max_length=MAX_NAME, blank_ok=name is None)
    except ValueError as exc:
        _fail(f"--agent/--name: {exc}")
    try:
        check_text(person or "", max_length=MAX_NAME, blank_ok=True)
    except ValueError as exc:
        _fail(f"--person: {exc}")
    try:
        ttl = parse_duration(expires_in) if expires_in else None
    except ValueError as exc:
        _fail(f"--expires-in: {exc}")
    from takeover.app import tokens

    created = _operation(lambda: tokens.create(_app(), actor=_cli_actor(), name=name or agent[0],  # type: ignore[index]
                                               role=role, agents=agent or [], expires_in=ttl or None,
                                               person=person or None))
    typer.echo(created["token"])


@token_app.command("list")
def token_list() -> None:
    """List tokens (never the secrets)."""
    from takeover import store

    with _sessions() as session:
        for row in store.list_tokens(session=session):
            state = "revoked" if row.revoked_at else "expired" if row.expires_at and row.expires_at < time.time() else "active"
            typer.echo(f"{row.id}\t{row.role}\t{row.name}\t{','.join(row.agents) or '-'}\t{state}")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="the id from `takeover token list`")]) -> None:
    """Revoke a token (a running server on the same database refuses it within a second)."""
    from takeover.app import tokens

    _operation(lambda: tokens.revoke(_app(), actor=_cli_actor(), token_id=token_id))
    typer.echo(f"revoked token {token_id}")


@silence_app.command("add")
def silence_add(
    matcher: Annotated[list[str], typer.Option(help='name=value, name!=value, name=~regex or name!~regex (repeatable)')],
    comment: Annotated[str, typer.Option(help="why: shown with the silence and in the audit trail")],
    duration: Annotated[str, typer.Option(help="how long, e.g. 2h")] = "1h",
    suppress_takeover: Annotated[bool, typer.Option(help="also hold back the takeover of matching alerts")] = False,
) -> None:
    """Mute notifications of alerts matching every --matcher for --duration."""
    from takeover.app import silences
    from takeover.config.duration import parse_duration

    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        _fail(str(exc))
    row = _operation(lambda: silences.silence(_app(), matchers=list(matcher), duration=seconds, comment=comment,
                                              actor=_cli_actor(), suppress_takeover=suppress_takeover))
    typer.echo(f"silence {row['id']} until {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(row['ends_at']))}")


@silence_app.command("list")
def silence_list(expired: Annotated[bool, typer.Option(help="include expired silences")] = False) -> None:
    """List silences."""
    from takeover import store

    with _sessions() as session:
        for row in store.list_silences(session=session, now=time.time(), include_expired=expired):
            until = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.ends_at))
            typer.echo(f"{row.id}\t{' '.join(row.matchers)}\tuntil {until}\t{row.created_by}\t{row.comment}")


@silence_app.command("expire")
def silence_expire(silence_id: Annotated[int, typer.Argument(help="the id from `takeover silence list`")]) -> None:
    """End a silence now."""
    from takeover.app import silences

    _operation(lambda: silences.expire(_app(), silence_id=silence_id, actor=_cli_actor()))
    typer.echo(f"silence {silence_id} expired")


@policy_app.command("test")
def policy_test(files: Annotated[list[str], typer.Argument(help="policy test files (policy_files, cases)")]) -> None:
    """Run table cases (an action and the agent's state → the expected decision and policy)
    against policy files; prints SUCCESS or each failed case with the trace, exits 1 on failure."""
    from takeover.tools.policytest import run_policy_tests

    raise typer.Exit(run_policy_tests(files))


@policy_app.command("replay")
def policy_replay(
    candidate: Annotated[str, typer.Argument(help="the candidate policy file (YAML)")],
    since: Annotated[str, typer.Option(help="replay the decisions of this long ago until now, e.g. 7d")] = "7d",
    agent: Annotated[Optional[str], typer.Option(help="only this agent's decisions")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Judge the action decisions in the audit trail again under CANDIDATE (with the arguments,
    mode, release variant, firing alerts and grants each had) and print what would change,
    per policy and action, with examples and the human hours the new asks would cost. Exits 1
    when an action that was allowed would now be denied."""
    from takeover.config.yamlfile import ConfigError
    from takeover.control.validation import duration
    from takeover.tools.policyreplay import run_policy_replay

    try:
        seconds = duration(since)
    except ValueError as exc:
        _fail(f"--since: {exc}")
    try:
        code = run_policy_replay(_app(), candidate, since=seconds, agent=agent, as_json=json_output, echo=typer.echo)
    except ConfigError as exc:
        _fail(str(exc))
    raise typer.Exit(code)


def _descriptor(version: str, meta: list[str] | None) -> dict[str, str]:
    out = {"version": version}
    for item in meta or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or key.strip() == "version":
            _fail(f"--stable-meta/--canary-meta take key=value (model=gpt-x, prompt=p4); got {item!r}")
        out[key.strip()] = value
    return out


def _print_release(release: dict[str, Any]) -> None:
    left = f", {release['to_reconcile']} writes to reconcile" if release.get("to_reconcile") else ""
    typer.echo(f"release {release['id']} of {release['agent']}: {release['stable']['version']} → "
               f"{release['canary']['version']}, {release['state']} at {release['weight']:g} %{left}")
    typer.echo(f"  steps {', '.join(f'{w:g}' for w in release['steps'])} % every {release['every']:g}s; "
               f"{release['reason']}")


@release_app.command("start")
def release_start(
    agent: Annotated[str, typer.Argument(help="the agent, e.g. refund-bot")],
    stable: Annotated[str, typer.Option(help="the stable version's id, e.g. v41")],
    canary: Annotated[str, typer.Option(help="the new version's id, e.g. v42")],
    steps: Annotated[str, typer.Option(help="canary weights in %, increasing, ending at 100")] = "1,5,20,50,100",
    every: Annotated[str, typer.Option(help="time at each step with healthy analysis, e.g. 10m")] = "10m",
    analysis: Annotated[Optional[str], typer.Option(help="analysis file (YAML): checks of canary vs stable")] = None,
    gate: Annotated[bool, typer.Option(help="a human approves the promotion to 100 %")] = False,
    hold: Annotated[Optional[str], typer.Option(help="mode the agent is held in after a rollback, until released")] = None,
    stable_meta: Annotated[Optional[list[str]], typer.Option(help="key=value describing the stable version (repeatable)")] = None,
    canary_meta: Annotated[Optional[list[str]], typer.Option(help="key=value describing the canary: model, prompt, tools…")] = None,
) -> None:
    """Start a canary release: the canary gets the first step's share of keys (sticky), then
    steps up while analysis is healthy; an analysis failure or a `takeover: rollback` alert rolls it back."""
    from takeover.app import releases
    from takeover.config.duration import parse_duration
    from takeover.config.mode import TAKEOVER_MODES, Mode
    from takeover.config.yamlfile import ConfigError
    from takeover.control import release as core
    from takeover.control.analysis import load_analysis

    try:
        weights = [round(float(w) * 100) for w in steps.split(",")]
        seconds = parse_duration(every)
    except ValueError as exc:
        _fail(f"--steps takes weights in % like 1,5,20,50,100 and --every a duration like 10m: {exc}")
    if problems := core.plan_problems(weights, seconds):
        _fail("; ".join(problems))
    if hold is not None and hold not in TAKEOVER_MODES:
        _fail(f"--hold must be one of {', '.join(TAKEOVER_MODES)}; got {hold!r}")
    checks: tuple[core.Check, ...] = ()
    limit = 10
    if analysis is not None:
        try:
            checks, limit = load_analysis(Path(analysis).read_text(), filename=analysis)
        except OSError as exc:
            _fail(f"cannot read the analysis file {analysis}: {exc.strerror}")
        except ConfigError as exc:
            for problem in exc.errors:
                typer.echo(str(problem), err=True)
            _fail(f"takeover: {len(exc.errors)} problem(s) in the analysis file; nothing started")
    plan = core.Plan(tuple(weights), seconds, checks, gate, Mode[hold] if hold else None, limit)
    release = _operation(lambda: releases.start(_app(), actor=_cli_actor(), agent=agent,
                                                stable=_descriptor(stable, stable_meta),
                                                canary=_descriptor(canary, canary_meta), plan=plan))
    _print_release(release)


@release_app.command("status")
def release_status(agent: Annotated[str, typer.Argument(help="the agent")],
                   json_output: Annotated[bool, typer.Option("--json", help="print it as JSON")] = False) -> None:
    """Where the agent's newest release stands."""
    from takeover.app import releases

    release = _operation(lambda: releases.status(_app(), agent=agent))
    typer.echo(json.dumps(release, indent=2)) if json_output else _print_release(release)


def _release_action(action: str, help_text: str) -> None:
    def command(agent: Annotated[str, typer.Argument(help="the agent")],
                reason: Annotated[str, typer.Option(help="why: audited, and in the release's Slack thread")]) -> None:
        from takeover.app import releases

        _print_release(_operation(lambda: releases.act(_app(), actor=_cli_actor(), agent=agent, action=action,
                                                       reason=reason)))
    command.__doc__ = help_text
    release_app.command(action)(command)


_release_action("pause", "Hold the release at its step (analysis still rolls back on a rollback alert).")
_release_action("resume", "Resume a paused release at its step (its time at the step starts again).")
_release_action("promote", "Promote the canary now: it becomes the stable version for every key.")
_release_action("abort", "Roll back now: weight 0, every key to stable; see `takeover release report`.")


@release_app.command("report")
def release_report(agent: Annotated[str, typer.Argument(help="the agent")],
                   json_output: Annotated[bool, typer.Option("--json", help="print it as JSON")] = False) -> None:
    """Every write the canary was allowed or approved to make since the release started (from the
    audit trail), and which are reconciled."""
    from takeover.app import releases

    report = _operation(lambda: releases.report(_app(), agent=agent))
    if json_output:
        typer.echo(json.dumps(report, indent=2))
        return
    _print_release(report["release"])
    for w in report["writes"]:
        at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(w["at"]))
        done = f"reconciled by {w['reconciled_by']}" if w["reconciled_by"] else "TO RECONCILE"
        approved = f" approved by {w['approved_by']}" if w["approved_by"] else ""
        typer.echo(f"  {w['audit_id']}\t{at}\t{w['action']}\t{json.dumps(w['args'], sort_keys=True)}\t"
                   f"key={w['idempotency_key'] or '-'}{approved}\t{done}")
    if not report["writes"]:
        typer.echo("  the canary made no writes")


@release_app.command("reconcile")
def release_reconcile(agent: Annotated[str, typer.Argument(help="the agent")],
                      audit_id: Annotated[int, typer.Argument(help="the write's audit id, from `takeover release report`")],
                      note: Annotated[str, typer.Option(help="what was done about it")]) -> None:
    """Mark one of the canary's writes reconciled (audited)."""
    from takeover.app import releases

    report = _operation(lambda: releases.reconcile(_app(), actor=_cli_actor(), agent=agent, audit_id=audit_id,
                                                   note=note))
    left = sum(1 for w in report["writes"] if not w["reconciled_by"])
    typer.echo(f"write {audit_id} reconciled; {left} left")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to TAKEOVER_DATABASE_URL (run before starting a new version)."""
    from takeover import store
    from takeover.store import migrate

    engine = store.make_engine(Settings().database_url, migrate=True)
    typer.echo(f"database schema at {migrate.current(engine)} (latest)")


@db_app.command("current")
def db_current() -> None:
    """Print the schema version of TAKEOVER_DATABASE_URL and the one this takeover needs."""
    from sqlalchemy import create_engine

    from takeover.store import migrate

    engine = create_engine(Settings().database_url)
    typer.echo(f"current: {migrate.current(engine) or 'empty'}; needed: {migrate.head()}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the audit chain; exit 1 naming the first row whose hash does not match."""
    from takeover import store

    with _sessions() as session:
        checked, bad = store.verify_audit(session=session)
    if bad is not None:
        _fail(f"audit chain broken at row {bad.id} ({bad.action} by {bad.actor} at {bad.at}): "
              f"its hash does not match its content and the row before it; {checked} rows before it verify")
    typer.echo(f"audit chain verified: {checked} rows")


@audit_app.command("export")
def audit_export(
    since: Annotated[Optional[str], typer.Option(help="unix seconds or duration ago, e.g. 24h")] = None,
) -> None:
    """Write the audit trail as JSON Lines to stdout."""
    import json

    from takeover import store
    from takeover.config.duration import parse_duration

    start = None
    if since:
        try:
            start = float(since)
        except ValueError:
            try:
                start = time.time() - parse_duration(since)
            except ValueError as exc:
                _fail(f"--since: {exc}")
    after = 0
    with _sessions() as session:
        while rows := store.audit_rows(session=session, since=start, after_id=after, limit=1000):
            for row in rows:
                typer.echo(json.dumps(row.model_dump(), sort_keys=True))
            after = rows[-1].id or 0


@app.command()
def readiness(
    file: Annotated[str, typer.Option("--file", help="the readiness file: a YAML list of items")] = "readiness.yml",
    json_output: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Check an agent team's readiness: the readiness file's items (tools, permissions, tracing,
    evaluation_cases, rollback, budget_limits, human_approval, incident_response, rate_limits) and
    what takeover checks itself: rules with owner, runbook and first check; timeout, error and cost
    rules; a rule that takes over; an operator token and Slack interactivity; the audit chain;
    Prometheus. Exit 0 when ready, 1 when not, 2 when the readiness file is invalid."""
    from takeover.tools.readiness import run_readiness

    raise typer.Exit(run_readiness(file, settings=Settings(), as_json=json_output))


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="port for the takeover API")] = 8080,
) -> None:
    """Start Prometheus, a demo agent whose error rate climbs, and takeover; watch it take over."""
    from takeover.tools.demo import run_demo

    run_demo(api_port=port)


@app.command("demo-agent")
def demo_agent(port: Annotated[int, typer.Option(help="port for /metrics")] = 9101,
               host: Annotated[str, typer.Option(help="address to listen on (0.0.0.0 in a container)")] = "127.0.0.1",
               climb_after: Annotated[float, typer.Option(help="seconds before errors climb")] = 20.0) -> None:
    """Run only the demo agent's metrics exporter (what `takeover demo` and docker-compose scrape)."""
    from takeover.tools.demo import serve_demo_agent

    serve_demo_agent(port=port, host=host, climb_after=climb_after, block=True)


@app.command("mcp-gateway", context_settings={"allow_interspersed_args": False})
def gateway(
    agent: Annotated[str, typer.Option(help="the agent the calls are asked for")],
    upstream: Annotated[Optional[list[str]], typer.Argument(help="the upstream MCP server's command, after --")] = None,
    url: Annotated[str, typer.Option(envvar="TAKEOVER_URL", help="takeover's URL")] = "http://127.0.0.1:8080",
    token_env: Annotated[str, typer.Option(help="the environment variable holding the agent's token")] = "TAKEOVER_TOKEN",
    upstream_url: Annotated[Optional[str], typer.Option(help="a streamable HTTP upstream instead of a command")] = None,
    tool: Annotated[Optional[list[str]], typer.Option(help="NAME=read|write[:low|high], wins over the tool's "
                                                          "annotations (repeatable)")] = None,
    trust_hints: Annotated[bool, typer.Option(help="take readOnlyHint / destructiveHint at their word")] = False,
    wait_for_approval: Annotated[float, typer.Option(help="seconds a call waits for a human, then is refused")] = 300.0,
) -> None:
    """An MCP server on stdio in front of an upstream MCP server; takeover decides each tools/call
    first (`takeover gateway --agent bot -- python server.py`). Untrusted annotations: every tool
    is a write unless --tool or --trust-hints says otherwise."""
    try:
        from takeover.integrations import mcp_gateway
    except ImportError as exc:
        _fail(str(exc))
    token = os.environ.get(token_env)
    if not token:
        _fail(f"no agent token in ${token_env} (--token-env names the variable)")
    if not upstream and not upstream_url:
        _fail("the upstream MCP server: a command after --, or --upstream-url")
    try:
        kinds = mcp_gateway.declared_tools(tool or [])
    except ValueError as exc:
        _fail(str(exc))
    env = {key: value for key, value in os.environ.items() if key != token_env}  # the upstream never sees the token
    from takeover.sdk import RequestRejected

    try:
        mcp_gateway.run(url=url, token=token, agent=agent, command=upstream or [], upstream_url=upstream_url,
                        kinds=kinds, trust_hints=trust_hints, wait_for_approval=wait_for_approval, env=env)
    except RequestRejected as exc:
        _fail(f"takeover refused the gateway for agent {agent!r}: {exc}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
