"""Every route × every kind of caller: 401, 403 or allowed, read from the app's own route list
(so a new route without a rule here fails this test). The console's routes under /ui take a
session cookie, never a bearer token: they are pinned apart (CONSOLE_RULES)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from takeover.notify.slack import ConsoleNotifier
from takeover.rules.query import static_query
from takeover.server.api import create_app
from takeover.server.service import Service
from takeover.server.settings import Settings
from tests.conftest import Server, start_server, stop_server, takeover_cli
from tests.test_approvals import server_env

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent

# who may call each route: public, agent (bound to the agent in the path or body), operator, admin
RULES = {
    ("GET", "/v1/agents/{agent}/control"): "agent",
    ("PUT", "/v1/agents/{agent}/control"): "operator",
    ("POST", "/v1/agents/{agent}/sources"): "operator",
    ("POST", "/v1/agents/{agent}/sources/{source_id}/release"): "operator",
    ("POST", "/v1/agents/{agent}/release"): "operator",
    ("POST", "/v1/agents/{agent}/actions"): "agent_only",
    ("POST", "/v1/agents/{agent}/releases"): "operator",
    ("GET", "/v1/agents/{agent}/releases/current"): "operator",
    ("POST", "/v1/agents/{agent}/releases/current/{action}"): "operator",
    ("GET", "/v1/agents/{agent}/releases/current/report"): "operator",
    ("POST", "/v1/agents/{agent}/releases/current/report/{audit_id}/reconcile"): "operator",
    ("GET", "/v1/agents"): "operator",
    ("GET", "/v1/agents/{agent}"): "operator",
    ("POST", "/v1/agents"): "operator",
    ("GET", "/v1/alerts"): "operator",
    ("POST", "/v1/approvals"): "agent_only",
    ("GET", "/v1/approvals/{approval_id}"): "agent",
    ("GET", "/v1/approvals"): "operator",
    ("POST", "/v1/approvals/{approval_id}/approve"): "operator",
    ("POST", "/v1/approvals/{approval_id}/reject"): "operator",
    ("POST", "/v1/approvals/{approval_id}/cancel"): "agent_only",
    ("POST", "/v1/approvals/{approval_id}/execute"): "agent_only",
    ("GET", "/v1/policies/explain"): "operator",
    ("GET", "/v1/policies"): "operator",
    ("POST", "/v1/policies/replay"): "operator",
    ("GET", "/v1/audit"): "operator",
    ("POST", "/v1/tokens"): "admin",
    ("GET", "/v1/tokens"): "admin",
    ("POST", "/v1/tokens/{token_id}/revoke"): "admin",
    ("GET", "/v1/rules"): "operator",
    ("POST", "/v1/rules/reload"): "operator",
    ("POST", "/v1/silences"): "operator",
    ("GET", "/v1/silences"): "operator",
    ("POST", "/v1/silences/{silence_id}/expire"): "operator",
    ("GET", "/v1/alert-groups"): "operator",
    ("POST", "/v1/alertmanager"): "alertmanager_only",
    ("POST", "/v1/alert-groups/{group_id}/ack"): "operator",
    ("GET", "/v1/notifications/undeliverable"): "operator",
    ("POST", "/v1/notifications/{notification_id}/retry"): "operator",
    ("POST", "/v1/notifications/{notification_id}/dismiss"): "operator",
    ("POST", "/slack/interactions"): "slack",
    ("GET", "/healthz"): "public",
    ("GET", "/readyz"): "public",
    ("GET", "/metrics"): "public",
}
ALLOWED = {
    "public": {"none", "bad", "revoked", "expired", "wrong_agent", "agent", "viewer", "operator", "admin", "alertmanager"},
    "agent": {"agent", "operator", "admin"},
    "agent_only": {"agent"},  # operators set modes and answer approvals; they do not ask for an agent
    "operator": {"operator", "admin"},
    "admin": {"admin"},
    "alertmanager_only": {"alertmanager"},  # an Alertmanager's webhook: its token does nothing else, no person posts alerts
    "slack": set(),  # Slack's signature, never a bearer token (tests/test_slack.py)
}
# the console (mounted at /ui, outside the OpenAPI document): who may open each route
CONSOLE_RULES = {
    ("GET", "/ui/login"): "public",
    ("POST", "/ui/login"): "sign_in_form",  # needs its own CSRF cookie; then a token (tests/test_console.py)
    ("GET", "/ui/static"): "public",
    ("GET", "/ui/"): "session",
    ("GET", "/ui/agents/{agent}"): "session",
    ("GET", "/ui/approvals"): "session",
    ("GET", "/ui/audit"): "session",
    ("POST", "/ui/logout"): "session",
    ("POST", "/ui/agents/{agent}/take-over"): "session",
    ("POST", "/ui/agents/{agent}/release"): "session",
    ("POST", "/ui/agents/{agent}/releases/current/{action}"): "session",
    ("POST", "/ui/approvals/{approval_id}/{verdict}"): "session",
    ("GET", "/ui/live"): "session",
    ("GET", "/ui/alerts"): "session",
    ("GET", "/ui/alerts/{alert_id}/timeline"): "session",
    ("GET", "/ui/silences"): "session",
    ("GET", "/ui/rules"): "session",
    ("GET", "/ui/audit/export.{kind}"): "session",
    ("GET", "/ui/approvals/{approval_id}/editor"): "session",
    ("POST", "/ui/approvals/{approval_id}/diff"): "session",
    ("POST", "/ui/alerts/groups/{group_id}/ack"): "session",
    ("POST", "/ui/silences"): "session",
    ("POST", "/ui/silences/{silence_id}/expire"): "session",
    ("GET", "/ui/notifications"): "session",
    ("POST", "/ui/notifications/{notification_id}/{action}"): "session",
}
BODY = {"mode": "read_only", "reason": "acl", "action": "x", "kind": "read", "name": "acl-bot",
        "agent": "acl-bot", "comment": "no", "role": "operator", "matchers": ["alertname=acl"]}


def console_routes(tmp: Path) -> list[tuple[str, str]]:
    service = Service(Settings(database_url=f"sqlite:///{tmp / 'console.db'}", templates=str(ROOT / "templates")),
                      groups=[], notifier=ConsoleNotifier(io.StringIO()), query=static_query({}))
    try:
        mount = next(r for r in create_app(service).routes if isinstance(r, Mount) and r.path == "/ui")
        found = set()
        # included routers are wrapped (FastAPI 0.165+): walk the router each one stands for
        routes = [r for entry in mount.routes for r in getattr(getattr(entry, "original_router", None), "routes", [entry])]
        for route in routes:
            if isinstance(route, APIRoute):
                found |= {(method, f"/ui{route.path}") for method in route.methods if method != "HEAD"}
            elif isinstance(route, Mount):
                found.add(("GET", f"/ui{route.path}"))
        return sorted(found)
    finally:
        service.stop()


def app_routes(tmp: Path) -> list[tuple[str, str]]:
    service = Service(Settings(database_url=f"sqlite:///{tmp / 'routes.db'}", templates=str(ROOT / "templates")),
                      groups=[], notifier=ConsoleNotifier(io.StringIO()), query=static_query({}))
    try:
        app = create_app(service)
        # included routers are not flattened into app.routes (FastAPI >= 0.160): read them from the schema
        documented = {(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item}
        top = {(method, route.path) for route in app.routes if isinstance(route, APIRoute)
               for method in route.methods if method != "HEAD"}
        return sorted(documented | top)
    finally:
        service.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("acl")
    srv = start_server(server_env(tmp, f"sqlite:///{tmp / 'takeover.db'}"), log=tmp / "serve.log")
    yield srv
    stop_server(srv)


def test_every_route_has_an_access_rule(tmp_path: Path) -> None:
    routes = app_routes(tmp_path)
    missing = [r for r in routes if r not in RULES]
    assert missing == [], f"add these routes to RULES in tests/test_access.py: {missing}"


def test_every_route_refuses_and_admits_the_right_callers(server: Server, tmp_path: Path) -> None:
    admin = server.token("--role", "admin", "--name", "root")
    tokens = {
        "none": None,
        "bad": "tko_not-a-token",
        "agent": server.token("--role", "agent", "--agent", "acl-bot"),
        "wrong_agent": server.token("--role", "agent", "--agent", "other-bot"),
        "viewer": server.token("--role", "viewer", "--name", "acl-viewer"),  # the console's reader: no API route
        "operator": server.token("--role", "operator", "--name", "acl-op"),
        "admin": admin,
        "alertmanager": server.token("--role", "alertmanager", "--name", "acl-am"),
    }
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}) as root:
        revoked = root.post("/v1/tokens", json={"role": "operator", "name": "gone"}).json()
        assert root.post(f"/v1/tokens/{revoked['id']}/revoke").status_code == 200
        tokens["revoked"] = revoked["token"]
        tokens["expired"] = root.post("/v1/tokens", json={"role": "admin", "name": "old", "expires_in": "1ms"}).json()["token"]
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {tokens['agent']}"}) as bot:
        assert bot.get("/v1/agents/acl-bot/control").status_code == 200
        approval = bot.post("/v1/approvals", json={"agent": "acl-bot", "action": "x"}).json()["id"]

    failures = []
    for method, path in app_routes(tmp_path):
        rule = RULES[(method, path)]
        url = path.format(agent="acl-bot", approval_id=approval, source_id=999999, token_id=999999,
                          silence_id=999999, group_id=999999, action="pause", audit_id=999999,
                          notification_id=999999)
        for who, token in tokens.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            status = httpx.request(method, f"{server.url}{url}", headers=headers,
                                   json=BODY if method in ("POST", "PUT") else None, timeout=10).status_code
            if rule == "slack":
                ok = status in (401, 403)
            elif who in ALLOWED[rule]:
                ok = status < 500 and status not in (401, 403)
            elif who in ("none", "bad", "revoked", "expired"):
                ok = status == 401
            else:
                ok = status == 403
            if not ok:
                failures.append(f"{method} {path} as {who}: {status}")
    assert failures == []


def test_every_console_route_has_an_access_rule(tmp_path: Path) -> None:
    routes = console_routes(tmp_path)
    assert routes and [r for r in routes if r not in CONSOLE_RULES] == [], \
        f"add these routes to CONSOLE_RULES in tests/test_access.py: {routes}"


def test_no_bearer_token_opens_a_console_route_without_a_session(server: Server, tmp_path: Path) -> None:
    """Pages send the browser to sign in, forms are refused: whatever bearer token comes along."""
    tokens = {"none": None, "bad": "tko_not-a-token", "agent": server.token("--role", "agent", "--agent", "ui-bot"),
              "viewer": server.token("--role", "viewer", "--name", "ui-viewer"),
              "operator": server.token("--role", "operator", "--name", "ui-op"),
              "admin": server.token("--role", "admin", "--name", "ui-root")}
    failures = []
    for method, path in console_routes(tmp_path):
        rule = CONSOLE_RULES[(method, path)]
        url = path.format(agent="ui-bot", action="pause", approval_id="a1", verdict="approve", alert_id=1,
                          group_id=1, silence_id=1, kind="csv", notification_id=1)
        url = url + "/htmx.min.js" if url == "/ui/static" else url
        for who, token in tokens.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            answer = httpx.request(method, f"{server.url}{url}", headers=headers, timeout=10,
                                   data={"mode": "read_only", "reason": "acl", "token": token or ""}
                                   if method == "POST" else None)
            if rule == "public":
                ok = answer.status_code == 200
            elif rule == "sign_in_form":
                ok = answer.status_code == 403  # no sign-in cookie: CSRF refused before the token is read
            elif method == "GET":
                ok = answer.status_code == 303 and answer.headers["location"].startswith("/ui/login?next=")
            else:
                ok = answer.status_code == 401
            if not ok:
                failures.append(f"{method} {path} as {who}: {answer.status_code}")
    assert failures == []


def test_tokens_never_reach_the_logs_or_the_audit_trail(server: Server) -> None:
    admin = server.token("--role", "admin", "--name", "auditor")
    agent = server.token("--role", "agent", "--agent", "secret-bot")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin}"}) as root:
        made = root.post("/v1/tokens", json={"role": "operator", "name": "shown-once"}).json()["token"]
        assert root.post("/v1/tokens/1/revoke").status_code == 200
        root.get("/v1/agents/secret-bot/control", headers={"Authorization": f"Bearer {agent}"})
        httpx.get(f"{server.url}/v1/agents/secret-bot/control", headers={"Authorization": "Bearer tko_wrong-secret"})
        trail = root.get("/v1/audit", params={"limit": 1000}).text
    exported = takeover_cli("audit", "export", env=server.env).stdout
    assert "token.create" in trail and "token.revoke" in trail
    for secret in (admin, agent, made, "tko_wrong-secret"):
        assert secret not in server.output() and secret not in trail and secret not in exported
