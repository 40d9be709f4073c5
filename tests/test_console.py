"""The browser console over real HTTP against a real `takeover serve`: sign in and out, the
session cookie's flags, CSRF, viewers read but never act, agent tokens refused, and each form
doing the API's operation as the signed-in person."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
import sqlite3
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from takeover import store
from takeover.app import console
from takeover.notify.slack import ConsoleNotifier
from takeover.rules.query import static_query
from takeover.server.service import Service
from takeover.server.settings import Settings
from tests.conftest import ROOT, Exporter, Server, start_server, stop_server, until
from tests.fakeslack import FakeSlack
from tests.test_approvals import bearer, server_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("console")
    srv = start_server(server_env(tmp, f"sqlite:///{tmp / 'takeover.db'}"), log=tmp / "serve.log")
    ROOT_TOKEN[srv.url] = srv.token("--role", "admin", "--name", "console-tests")
    yield srv
    stop_server(srv)


ROOT_TOKEN: dict[str, str] = {}


def token(server: Server, role: str, name: str) -> str:
    """A new token through the API (quicker than the CLI's process per token)."""
    body: dict[str, Any] = {"role": role, "name": name} if role != "agent" else {"role": role, "name": name,
                                                                                 "agents": [name]}
    made = httpx.post(f"{server.url}/v1/tokens", headers=bearer(ROOT_TOKEN[server.url]), json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


OPEN: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


def client_for(server: Server, **options: Any) -> httpx.Client:
    """A browser-like client (its own cookie jar), closed after the test."""
    OPEN.append(httpx.Client(base_url=server.url, timeout=10, **options))
    return OPEN[-1]


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def signed_in(server: Server, secret: str) -> httpx.Client:
    """A browser-like client with a console session opened by the token `secret`."""
    client = client_for(server)
    form = client.get("/ui/login")
    answer = client.post("/ui/login", data={"csrf": csrf_of(form.text), "token": secret, "next": "/ui/"})
    assert answer.status_code == 303, answer.text
    return client


def form_post(client: httpx.Client, page: str, action: str, **fields: str) -> httpx.Response:
    """Post a form as the page carries it: with the page's CSRF token."""
    csrf = csrf_of(client.get(page).text)
    return client.post(action, data={"csrf": csrf, **fields})


def ask_refund(server: Server, agent: str, key: str) -> dict[str, Any]:
    mine = token(server, "agent", agent)
    answer = httpx.post(f"{server.url}/v1/agents/{agent}/actions", headers=bearer(mine), json={
        "action": "refund", "kind": "write", "risk": "high", "args": {"order": key}, "idempotency_key": key})
    assert answer.json()["decision"] == "approval_required", answer.text
    return answer.json()["approval"]  # type: ignore[no-any-return]


def control(server: Server, operator: str, agent: str) -> dict[str, Any]:
    return httpx.get(f"{server.url}/v1/agents/{agent}/control", headers=bearer(operator)).json()  # type: ignore[no-any-return]


def test_signing_in_sets_an_httponly_lax_cookie_and_the_database_keeps_only_its_hash(server: Server) -> None:
    operator = token(server, "operator", "cookie-op")
    client = client_for(server)
    form = client.get("/ui/login")
    assert "HttpOnly" in form.headers["set-cookie"] and "SameSite=lax" in form.headers["set-cookie"]
    answer = client.post("/ui/login", data={"csrf": csrf_of(form.text), "token": operator, "next": "/ui/approvals"})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/approvals"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("takeover_session="))
    flags = [f.strip().lower() for f in cookie.split(";")]
    assert {"httponly", "samesite=lax", "path=/ui", "max-age=43200"} <= set(flags)
    assert "secure" not in flags  # plain HTTP here; over HTTPS it is Secure (next test)
    secret = cookie.split(";")[0].split("=", 1)[1]
    db = sqlite3.connect(server.env["TAKEOVER_DATABASE_URL"].removeprefix("sqlite:///"))
    stored = [row[0] for row in db.execute("SELECT id_hash FROM console_session")]
    db.close()
    assert hashlib.sha256(secret.encode()).hexdigest() in stored and secret not in stored
    page = client.get("/ui/")
    assert page.status_code == 200 and "operator:cookie-op" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_the_cookie_is_secure_when_the_request_came_over_https(server: Server) -> None:
    operator = token(server, "operator", "https-op")
    https = {"X-Forwarded-Proto": "https"}  # a TLS proxy on loopback, which uvicorn trusts
    client = client_for(server, headers=https)
    form = client.get("/ui/login")
    assert "secure" in form.headers["set-cookie"].lower()
    answer = httpx.post(f"{server.url}/ui/login", headers=https, cookies={"takeover_sign_in": form.cookies["takeover_sign_in"]},
                        data={"csrf": csrf_of(form.text), "token": operator})
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("takeover_session="))
    assert "secure" in [f.strip().lower() for f in cookie.split(";")]


def test_without_a_session_a_page_sends_the_browser_to_sign_in_and_a_form_is_refused(server: Server) -> None:
    page = httpx.get(f"{server.url}/ui/agents/x-bot?tab=1")
    assert page.status_code == 303 and page.headers["location"] == "/ui/login?next=/ui/agents/x-bot%3Ftab%3D1"
    operator = token(server, "operator", "bearer-op")
    with_bearer = httpx.get(f"{server.url}/ui/", headers=bearer(operator))
    assert with_bearer.status_code == 303  # a bearer token never stands in for a session
    posted = httpx.post(f"{server.url}/ui/agents/x-bot/take-over", data={"mode": "read_only", "reason": "x"})
    assert posted.status_code == 401 and "sign in again" in posted.text
    assert httpx.get(f"{server.url}/ui/login?next=https://evil.example/").text.count('value="/ui/"') == 1


def test_an_agent_token_does_not_open_the_console_and_a_bad_token_is_refused(server: Server) -> None:
    agent = token(server, "agent", "sneaky-bot")
    client = client_for(server)
    form = client.get("/ui/login")
    refused = client.post("/ui/login", data={"csrf": csrf_of(form.text), "token": agent})
    assert refused.status_code == 403 and "agent&#39;s token does not open the console" in refused.text
    assert "takeover_session" not in refused.headers.get("set-cookie", "")
    bad = client.post("/ui/login", data={"csrf": csrf_of(form.text), "token": "tko_nope"})
    assert bad.status_code == 401 and "invalid, expired or revoked token" in bad.text


def test_a_cross_site_form_carrying_the_session_cookie_without_its_csrf_token_is_refused_and_changes_nothing(
        server: Server) -> None:
    operator = token(server, "operator", "csrf-op")
    client = signed_in(server, operator)
    httpx.post(f"{server.url}/v1/agents", headers=bearer(operator), json={"name": "csrf-bot"})
    evil = {"Origin": "https://evil.example", "Referer": "https://evil.example/page"}
    for fields in ({}, {"csrf": "0" * 64}):  # the SameSite=Lax cookie goes with it, as an old browser would send it
        answer = client.post("/ui/agents/csrf-bot/take-over", headers=evil,
                             data={"mode": "handoff", "reason": "forged", **fields})
        assert answer.status_code == 403 and "CSRF token is missing or wrong" in answer.text
    assert control(server, operator, "csrf-bot")["mode"] == "normal"
    no_cookie = httpx.post(f"{server.url}/ui/login", data={"csrf": "x", "token": operator})
    assert no_cookie.status_code == 403  # sign-in CSRF: the form's token must match its cookie


def test_a_viewer_reads_every_page_but_every_form_is_refused_and_the_api_refuses_it(server: Server) -> None:
    operator = token(server, "operator", "viewer-admin-op")
    viewer = token(server, "viewer", "vera")
    httpx.post(f"{server.url}/v1/agents", headers=bearer(operator), json={"name": "viewed-bot"})
    approval = ask_refund(server, "viewed-bot", "V-1")
    client = signed_in(server, viewer)
    for page in ("/ui/", "/ui/agents/viewed-bot", "/ui/approvals", "/ui/audit", "/ui/alerts", "/ui/silences"):
        answer = client.get(page)
        assert answer.status_code == 200 and "viewer:vera (read-only)" in answer.text, page
    agent_page = client.get("/ui/agents/viewed-bot").text
    assert "<fieldset disabled>" in agent_page.replace(" >", ">")
    for action, fields in (("/ui/agents/viewed-bot/take-over", {"mode": "read_only", "reason": "v"}),
                           ("/ui/agents/viewed-bot/release", {"reason": "v"}),
                           (f"/ui/approvals/{approval['id']}/approve", {}),
                           (f"/ui/approvals/{approval['id']}/reject", {"comment": "no"}),
                           (f"/ui/approvals/{approval['id']}/diff", {"args": "{}"}),
                           ("/ui/silences", {"matchers": "a=b", "duration": "1h", "comment": "v"}),
                           ("/ui/silences/1/expire", {}), ("/ui/alerts/groups/1/ack", {})):
        answer = form_post(client, "/ui/agents/viewed-bot", action, **fields)
        assert answer.status_code == 403 and "viewer:vera reads the console and may not act" in answer.text, action
    assert control(server, operator, "viewed-bot")["mode"] == "normal"
    assert httpx.get(f"{server.url}/v1/approvals/{approval['id']}", headers=bearer(operator)).json()["status"] == "pending"
    assert httpx.get(f"{server.url}/v1/agents", headers=bearer(viewer)).status_code == 403
    assert httpx.put(f"{server.url}/v1/agents/viewed-bot/control", headers=bearer(viewer),
                     json={"mode": "read_only", "reason": "v"}).status_code == 403


def test_taking_over_from_the_console_changes_the_control_document_and_the_audit_names_the_operator(
        server: Server) -> None:
    operator = token(server, "operator", "alice")
    httpx.post(f"{server.url}/v1/agents", headers=bearer(operator), json={"name": "refund-bot"})
    client = signed_in(server, operator)
    before = control(server, operator, "refund-bot")["version"]
    answer = form_post(client, "/ui/agents/refund-bot", "/ui/agents/refund-bot/take-over",
                       mode="read_only", reason="refunds look wrong", expires_in="30m")
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/agents/refund-bot"
    doc = control(server, operator, "refund-bot")
    assert doc["mode"] == "read_only" and doc["version"] > before
    source = doc["sources"][0]
    assert (source["actor"], source["reason"]) == ("operator:alice", "refunds look wrong")
    assert 29 * 60 < source["expires_at"] - source["since"] <= 30 * 60
    page = client.get("/ui/agents/refund-bot").text
    assert "refund-bot is now held in read_only for 30m" in page  # the notice, shown once
    assert "refund-bot is now held in" not in client.get("/ui/agents/refund-bot").text
    rows = httpx.get(f"{server.url}/v1/audit", headers=bearer(operator),
                     params={"agent": "refund-bot", "action": "mode."}).json()["rows"]
    assert [(r["actor"], r["action"], r["after"]) for r in rows][-1] == ("operator:alice", "mode.override", "read_only")
    overview = client.get("/ui/").text
    assert "refund-bot" in overview and "refunds look wrong" in overview
    form_post(client, "/ui/agents/refund-bot", "/ui/agents/refund-bot/release", reason="fixed")
    assert control(server, operator, "refund-bot")["mode"] == "normal"
    bad = form_post(client, "/ui/agents/refund-bot", "/ui/agents/refund-bot/take-over", mode="asleep", reason="x")
    assert bad.status_code == 303 and "mode: one of normal" in client.get("/ui/agents/refund-bot").text


def test_a_decision_made_elsewhere_meanwhile_shows_who_decided_and_is_never_overwritten(server: Server) -> None:
    alice = token(server, "operator", "alice2")
    bob = token(server, "operator", "bob")
    approval = ask_refund(server, "queue-bot", "Q-1")
    client = signed_in(server, alice)
    queue = client.get("/ui/approvals").text  # alice has the queue open with the request pending
    assert f"/ui/approvals/{approval['id']}/reject" in queue and "0 of 1" in queue
    assert httpx.post(f"{server.url}/v1/approvals/{approval['id']}/approve", headers=bearer(bob)).status_code == 200
    answer = client.post(f"/ui/approvals/{approval['id']}/reject", data={"csrf": csrf_of(queue), "comment": "too much"})
    assert answer.status_code == 303
    page = client.get("/ui/approvals").text
    assert "already approved by operator:bob" in page
    after = httpx.get(f"{server.url}/v1/approvals/{approval['id']}", headers=bearer(alice)).json()
    assert (after["status"], after["decided_by"], after["comment"]) == ("approved", "operator:bob", None)


def test_approving_and_rejecting_from_the_queue_as_that_person_and_a_rejection_needs_a_comment(server: Server) -> None:
    carol = token(server, "operator", "carol")
    first, second = ask_refund(server, "decide-bot", "D-1"), ask_refund(server, "decide-bot", "D-2")
    client = signed_in(server, carol)
    form_post(client, "/ui/approvals", f"/ui/approvals/{second['id']}/reject", comment="   ")
    assert "comment" in client.get("/ui/approvals").text
    assert httpx.get(f"{server.url}/v1/approvals/{second['id']}", headers=bearer(carol)).json()["status"] == "pending"
    queue = client.get("/ui/approvals").text
    assert queue.index(first["id"]) < queue.index(second["id"])  # oldest first
    form_post(client, "/ui/approvals", f"/ui/approvals/{first['id']}/approve")
    form_post(client, "/ui/approvals", f"/ui/approvals/{second['id']}/reject", comment="not this order")
    decided = {a: httpx.get(f"{server.url}/v1/approvals/{a}", headers=bearer(carol)).json()
               for a in (first["id"], second["id"])}
    assert (decided[first["id"]]["status"], decided[first["id"]]["decided_by"]) == ("approved", "operator:carol")
    assert decided[second["id"]]["comment"] == "not this order"


def test_the_queue_shows_fifty_at_a_time_oldest_first_and_pages_to_the_rest(tmp_path: Path) -> None:
    server = start_server(server_env(tmp_path, f"sqlite:///{tmp_path / 'takeover.db'}"), log=tmp_path / "serve.log")
    try:
        agent = server.token("--role", "agent", "--agent", "many-bot")
        asked = [httpx.post(f"{server.url}/v1/agents/many-bot/actions", headers=bearer(agent), json={
            "action": "refund", "kind": "write", "risk": "high", "args": {"order": f"M-{i}"},
            "idempotency_key": f"M-{i}"}).json()["approval"]["id"] for i in range(53)]
        client = signed_in(server, server.token("--role", "operator", "--name", "pager-op"))
        first = client.get("/ui/approvals").text
        assert "Pending (53), oldest first" in first
        assert [a for a in asked if f'id="approval-{a}"' in first] == asked[:50]
        later = re.search(r'href="(/ui/approvals\?after=[^"]+)">Later requests', first)
        assert later is not None
        rest = client.get(later.group(1).replace("&amp;", "&")).text
        assert [a for a in asked if f'id="approval-{a}"' in rest] == asked[50:]
        assert "Later requests" not in rest and "the oldest first" in rest
        assert client.get("/ui/approvals?after=not-a-cursor").status_code == 422
    finally:
        stop_server(server)


def test_release_buttons_act_on_the_agents_release_as_the_person(server: Server) -> None:
    operator = token(server, "operator", "dora")
    httpx.post(f"{server.url}/v1/agents", headers=bearer(operator), json={"name": "canary-bot"})
    started = httpx.post(f"{server.url}/v1/agents/canary-bot/releases", headers=bearer(operator), json={
        "stable": {"version": "v1"}, "canary": {"version": "v2"}, "steps": [10, 100], "every": "1h"})
    assert started.status_code == 201, started.text
    client = signed_in(server, operator)
    assert "v1 → v2" in client.get("/ui/").text
    form_post(client, "/ui/agents/canary-bot", "/ui/agents/canary-bot/releases/current/pause", reason="look first")
    status = httpx.get(f"{server.url}/v1/agents/canary-bot/releases/current", headers=bearer(operator)).json()
    assert status["state"] == "paused" and "operator:dora" in status["reason"]
    assert "release of canary-bot: pause → paused" in client.get("/ui/agents/canary-bot").text


def test_signing_out_or_revoking_the_token_ends_the_session_on_the_server(server: Server) -> None:
    admin = token(server, "admin", "root-console")
    client = signed_in(server, admin)
    cookie = client.cookies["takeover_session"]
    out = form_post(client, "/ui/", "/ui/logout")
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    replay = httpx.get(f"{server.url}/ui/", cookies={"takeover_session": cookie})
    assert replay.status_code == 303  # the old cookie names no session any more
    made = httpx.post(f"{server.url}/v1/tokens", headers=bearer(admin), json={"role": "operator", "name": "leaver"}).json()
    leaver = signed_in(server, made["token"])
    assert leaver.get("/ui/").status_code == 200
    httpx.post(f"{server.url}/v1/tokens/{made['id']}/revoke", headers=bearer(admin))
    assert leaver.get("/ui/").status_code == 303
    rows = httpx.get(f"{server.url}/v1/audit", headers=bearer(admin), params={"action": "console."}).json()["rows"]
    assert ("admin:root-console", "console.sign_out") in [(r["actor"], r["action"]) for r in rows]


def test_the_audit_page_pages_back_and_names_the_first_broken_row_new_rows_at_once_old_ones_on_a_full_walk(
        server: Server) -> None:
    operator = token(server, "operator", "auditor-op")
    client = signed_in(server, operator)
    page = client.get("/ui/audit").text
    assert "The hash chain verifies" in page
    older = re.search(r'href="/ui/audit\?before_id=(\d+)"', page)
    if older:
        assert client.get(f"/ui/audit?before_id={older.group(1)}").status_code == 200
    db = sqlite3.connect(server.env["TAKEOVER_DATABASE_URL"].removeprefix("sqlite:///"))
    (reason,) = db.execute("SELECT reason FROM audit WHERE id = 3").fetchone()
    with db:
        db.execute("UPDATE audit SET reason = 'rewritten' WHERE id = 3")
    # a view checks only what is new since the last one: the rewritten old row waits for a full walk
    assert "The hash chain verifies" in client.get("/ui/audit").text
    page = client.get("/ui/audit?verify=full").text
    assert "The hash chain is broken at row 3" in page
    assert "The hash chain is broken at row 3" in client.get("/ui/audit").text  # and it stays found
    with db:
        db.execute("UPDATE audit SET reason = ? WHERE id = 3", (reason,))  # mended: it holds on the next full walk
        last = db.execute("SELECT max(id) FROM audit").fetchone()[0]
    assert "The hash chain verifies" in client.get("/ui/audit?verify=full").text
    with db:
        db.execute("UPDATE audit SET reason = 'rewritten' WHERE id = ?", (last,))
    db.close()
    page = client.get("/ui/audit").text  # the last verified row rewritten: found on the next view
    assert "The hash chain is broken at row" in page


def test_a_session_ends_at_its_expiry(tmp_path: Path) -> None:
    now = [1_000_000.0]
    service = Service(Settings(database_url=f"sqlite:///{tmp_path / 't.db'}", templates=str(ROOT / "templates")),
                      groups=[], notifier=ConsoleNotifier(), query=static_query({}), clock=lambda: now[0])
    try:
        with service.sessions() as s:
            store.create_token(session=s, name="eve", role="operator", agents=[], token="tko_eve", now=now[0], actor="test")
            s.commit()
        secret, who = console.sign_in(service.app, token="tko_eve", ttl=3600)
        assert who.actor == "operator:eve"
        now[0] += 3599
        assert console.signed_in(service.app, secret=secret) is not None
        now[0] += 1
        assert console.signed_in(service.app, secret=secret) is None
    finally:
        service.stop()


def test_approving_with_edited_arguments_sends_only_the_changed_values_and_the_api_refuses_what_it_refuses(
        server: Server) -> None:
    erin = token(server, "operator", "erin")
    asked = ask_refund(server, "edit-bot", "E-1")
    client = signed_in(server, erin)
    queue = client.get("/ui/approvals").text
    assert f'hx-get="/ui/approvals/{asked["id"]}/editor"' in queue
    editor = client.get(f"/ui/approvals/{asked['id']}/editor", headers={"HX-Request": "true"}).text
    assert f'hx-post="/ui/approvals/{asked["id"]}/diff"' in editor and '"order": "E-1"' in editor
    diff = client.post(f"/ui/approvals/{asked['id']}/diff", data={"csrf": csrf_of(queue), "args": '{"order": "E-2"}'},
                       headers={"HX-Request": "true"})
    assert diff.status_code == 200 and "<del>&#34;E-1&#34;</del>" in diff.text and "<ins>&#34;E-2&#34;</ins>" in diff.text
    extra = client.post(f"/ui/approvals/{asked['id']}/diff", data={"csrf": csrf_of(queue), "args": '{"refund_all": true}'})
    assert "not proposed: refund_all" in extra.text
    for bad, why in (('{"order": ', "arguments: not JSON"), ("[1]", "arguments: a JSON object"),
                     ('{"refund_all": true}', "not proposed: refund_all")):
        form_post(client, "/ui/approvals", f"/ui/approvals/{asked['id']}/approve", args=bad)
        assert why in client.get("/ui/approvals").text, bad
    assert httpx.get(f"{server.url}/v1/approvals/{asked['id']}", headers=bearer(erin)).json()["status"] == "pending"
    form_post(client, "/ui/approvals", f"/ui/approvals/{asked['id']}/approve", args='{"order": "E-2"}')
    decided = httpx.get(f"{server.url}/v1/approvals/{asked['id']}", headers=bearer(erin)).json()
    assert (decided["status"], decided["args"]["approved"], decided["decided_by"]) == (
        "approved", {"order": "E-2"}, "operator:erin")
    page = client.get("/ui/approvals").text
    assert "Approved with edits" in page and "<ins>&#34;E-2&#34;</ins>" in page


def test_the_live_stream_needs_a_session_and_pings_the_topics_that_changed(server: Server) -> None:
    assert httpx.get(f"{server.url}/ui/live").status_code == 303
    fay = token(server, "operator", "fay")
    client = signed_in(server, fay)
    seen: list[str] = []
    with client.stream("GET", "/ui/live", timeout=20) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        for line in lines:
            seen.append(line)
            if line == "data: live":
                break
        ask_refund(server, "live-bot", "L-1")
        for line in lines:
            seen.append(line)
            if line.startswith("data: ") and "approvals" in line:
                break
    assert "event: hello" in seen and "event: change" in seen
    assert {"approvals", "audit"} <= set(seen[-1].removeprefix("data: ").split())


def test_each_live_fragment_renders_alone_when_htmx_asks_for_it(server: Server) -> None:
    operator = token(server, "operator", "gus")
    ask_refund(server, "frag-bot", "F-1")
    client = signed_in(server, operator)
    pages = {"/ui/": ["held", "alerts", "pending", "silent", "releases"], "/ui/agents/frag-bot": ["head", "sources", "release",
             "approvals", "record"], "/ui/approvals": ["queue"], "/ui/alerts": ["board"], "/ui/silences": ["silences", "preview"],
             "/ui/audit": ["trail"], "/ui/rules": ["groups"]}
    for path, parts in pages.items():
        full = client.get(path).text
        for part in parts:
            assert f'id="{part}"' in full, (path, part)
            alone = client.get(path, headers={"HX-Request": "true", "HX-Target": part})
            assert alone.status_code == 200 and alone.text.lstrip().startswith("<") and "<html" not in alone.text, (path, part)
            assert f'id="{part}"' in alone.text, (path, part)
    form_post(client, "/ui/agents/frag-bot", "/ui/agents/frag-bot/take-over", mode="read_only", reason="look")
    assert client.get("/ui/agents/frag-bot", headers={"HX-Request": "true", "HX-Target": "sources"}).status_code == 200
    assert "frag-bot is now held in read_only" in client.get("/ui/agents/frag-bot").text  # the fragment left it


def test_silences_are_created_with_a_preview_and_expired_from_the_console_as_the_person(server: Server) -> None:
    hal = token(server, "operator", "hal")
    client = signed_in(server, hal)
    preview = client.get("/ui/silences", params={"match": ['alertname="Nope"']}).text
    assert "No alert firing or pending now matches" in preview and 'alertname=&#34;Nope&#34;' in preview
    assert "invalid regex" in client.get("/ui/silences", params={"matchers": 'a=~"("'}).text
    form_post(client, "/ui/silences", "/ui/silences", matchers='alertname="Nope"\nagent=~"bot-.*"',
              duration="30m", comment="maintenance")
    made = httpx.get(f"{server.url}/v1/silences", headers=bearer(hal)).json()
    mine = [s for s in made if s["comment"] == "maintenance"]
    assert [(s["matchers"], s["created_by"], round(s["ends_at"] - s["starts_at"])) for s in mine] == [
        (['alertname="Nope"', 'agent=~"bot-.*"'], "operator:hal", 1800)]
    assert "it mutes 0 alert(s) now" in client.get("/ui/silences").text
    form_post(client, "/ui/silences", "/ui/silences", matchers="no matcher here", duration="1h", comment="x")
    assert "bad matcher" in client.get("/ui/silences").text
    form_post(client, "/ui/silences", f"/ui/silences/{mine[0]['id']}/expire")
    assert mine[0]["id"] not in [s["id"] for s in httpx.get(f"{server.url}/v1/silences", headers=bearer(hal)).json()]
    assert client.get("/ui/alerts", params={"match": "no matcher"}).status_code == 422
    rows = httpx.get(f"{server.url}/v1/audit", headers=bearer(hal), params={"action": "silence."}).json()["rows"]
    assert {("operator:hal", "silence.create"), ("operator:hal", "silence.expire")} <= {(r["actor"], r["action"]) for r in rows}


def test_slack_messages_link_to_the_console_only_when_its_public_url_is_set(tmp_path: Path) -> None:
    from takeover.server.console import create_console

    for url, link in ((None, None), ("https://takeover.example.com/", "https://takeover.example.com/ui/agents/x-bot")):
        service = Service(Settings(database_url=f"sqlite:///{tmp_path / 'links.db'}", templates=str(ROOT / "templates"),
                                   public_url=url),
                          groups=[], notifier=ConsoleNotifier(), query=static_query({}))
        try:
            create_console(service)
            message = service.app.messages.render("mode_changed", agent="x-bot", before="normal", after="read_only",
                                                  actor="operator:a", reason="r", owner="", mention="", known_owner=True,
                                                  fallback_text="x")
            assert ("ui/agents" in str(message["blocks"])) == (link is not None)
            assert link is None or f"<{link}|open in the console>" in str(message["blocks"])
        finally:
            service.stop()


def test_the_rules_page_shows_each_rules_health_and_the_error_of_a_failing_one(tmp_path: Path) -> None:
    env = server_env(tmp_path, f"sqlite:///{tmp_path / 'rules.db'}")  # its Prometheus answers nobody
    Path(env["TAKEOVER_RULES"]).write_text("groups:\n  - name: payments\n    interval: 1s\n    rules:\n"
                                           "      - alert: RefundErrors\n        expr: refund_errors > 3\n"
                                           "        labels: {owner: team-pay}\n"
                                           "        annotations: {runbook_url: https://r.example.com, first_check: look}\n")
    srv = start_server(env, log=tmp_path / "serve.log")
    try:
        ROOT_TOKEN[srv.url] = srv.token("--role", "admin", "--name", "rules-root")
        client = signed_in(srv, token(srv, "viewer", "rita"))
        deadline = time.monotonic() + 20
        while "health-err" not in (page := client.get("/ui/rules").text):
            assert time.monotonic() < deadline, page
            time.sleep(0.1)
        assert "payments" in page and "RefundErrors" in page and "1 failing to evaluate" in page
        api = httpx.get(f"{srv.url}/v1/rules", headers=bearer(ROOT_TOKEN[srv.url])).json()["groups"][0]["rules"][0]
        assert api["health"] == "err" and api["lastError"].split(":")[0] in page
    finally:
        stop_server(srv)


def test_the_audit_page_filters_in_the_url_pages_with_them_and_exports_what_matches(server: Server) -> None:
    ivy = token(server, "operator", "ivy")
    httpx.post(f"{server.url}/v1/agents", headers=bearer(ivy), json={"name": "audit-bot"})
    for n in range(55):
        httpx.put(f"{server.url}/v1/agents/audit-bot/control", headers=bearer(ivy),
                  json={"mode": "read_only" if n % 2 == 0 else "normal", "reason": f"=cmd|{n}" if n == 0 else f"step {n}"})
    client = signed_in(server, ivy)
    page = client.get("/ui/audit", params={"actor": "operator:ivy", "subject": "agent:audit-bot", "action": "mode."}).text
    assert 'value="operator:ivy"' in page and page.count("<tr>") + page.count('<tr class') >= 50
    older = re.search(r'href="/ui/audit\?([^"]+)">Older', page)
    assert older and "before_id=" in older.group(1) and "actor=operator%3Aivy" in older.group(1)
    rest = client.get(f"/ui/audit?{older.group(1).replace('&amp;', '&')}").text
    assert "step 1<" in rest or "step 2<" in rest
    assert '<td data-label="What">console.sign_in</td>' not in rest  # the filters held on the next page
    api = httpx.get(f"{server.url}/v1/audit", headers=bearer(ivy),
                    params={"agent": "audit-bot", "actor": "operator:ivy", "action": "mode.", "limit": 1000}).json()["rows"]
    params = {"actor": "operator:ivy", "subject": "agent:audit-bot", "action": "mode."}
    lines = client.get("/ui/audit/export.jsonl", params=params).text.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [r["id"] for r in api] and len(api) == 55
    exported = client.get("/ui/audit/export.csv", params=params)
    assert exported.headers["content-disposition"] == 'attachment; filename="takeover-audit.csv"'
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert [int(r["id"]) for r in table] == [r["id"] for r in api]
    assert table[0]["reason"] == "'=cmd|0"  # a spreadsheet shows it as text, never runs it
    since = client.get("/ui/audit", params={"since": "2999-01-01T00:00"}).text
    assert "Nothing recorded." in since
    bad = client.get("/ui/audit", params={"until": "yesterday"})
    assert bad.status_code == 422 and "a time like 2026-11-27T14:30 (UTC)" in bad.text


def test_the_overview_names_agents_that_stopped_polling_and_the_agent_page_says_when_it_last_did(
        server: Server) -> None:
    jo = token(server, "operator", "jo")
    httpx.post(f"{server.url}/v1/agents", headers=bearer(jo), json={"name": "quiet-bot"})
    db = sqlite3.connect(server.env["TAKEOVER_DATABASE_URL"].removeprefix("sqlite:///"))
    with db:  # it last polled an hour ago (the default TAKEOVER_SILENT_AFTER is 5 minutes)
        db.execute("UPDATE agent SET last_seen_at = ? WHERE name = 'quiet-bot'", (time.time() - 3600,))
    db.close()
    client = signed_in(server, jo)
    overview = client.get("/ui/").text
    silent = overview[overview.index('id="silent"'):overview.index('id="releases"')]
    assert "quiet-bot" in silent and "1h 0m ago" in silent
    assert "last polled 1h 0m ago" in client.get("/ui/agents/quiet-bot").text
    httpx.post(f"{server.url}/v1/agents", headers=bearer(jo), json={"name": "new-bot"})
    assert "never polled" in client.get("/ui/agents/new-bot").text


def test_an_incidents_timeline_leads_with_its_steps_and_actors_and_folds_its_slack_messages_under_them(
        alerting: Server, exporter: Exporter, fake_slack: FakeSlack) -> None:
    server = alerting
    ROOT_TOKEN[server.url] = server.token("--role", "admin", "--name", "timeline-root")
    olga, bob = token(server, "operator", "olga"), token(server, "operator", "bob")
    exporter.set(42, case="console", agent="timeline-bot")  # first: its hold is noted with the group's first post
    exporter.set(50, case="console", agent="other-bot")  # another agent's alert, in the same group
    client = signed_in(server, olga)
    board = until(lambda: client.get("/ui/alerts", params={"match": 'agent="timeline-bot"'}).text,
                  lambda text: "/timeline" in text)
    found = re.search(r'href="(/ui/alerts/\d+/timeline)"', board)
    assert found, board
    groups = until(lambda: httpx.get(f"{server.url}/v1/alert-groups", headers=bearer(olga)).json(),
                   lambda g: len(g) == 1)
    fake_slack.wait_for(lambda f: any("`timeline-bot`: normal → read_only" in p["text"] for p in f.posts(thread=True)))
    httpx.post(f"{server.url}/v1/alert-groups/{groups[0]['id']}/ack", headers=bearer(olga)).raise_for_status()
    fake_slack.wait_for(lambda f: len(f.posts("👀 Acknowledged by operator:olga", thread=True)) == 1)
    httpx.put(f"{server.url}/v1/agents/timeline-bot/control", headers=bearer(bob),
              json={"mode": "normal", "reason": "provider is back"}).raise_for_status()
    fake_slack.wait_for(lambda f: len(f.posts("🔓 `timeline-bot` released", thread=True)) == 1)
    exporter.set(1, case="console", agent="timeline-bot")
    fake_slack.wait_for(lambda f: len(f.posts('✅ resolved: RefundsFailing{agent="timeline-bot"', thread=True)) == 1)

    page = until(lambda: client.get(found.group(1)).text,
                 lambda text: "Resolved" in text and "not sent yet" not in text)
    section = page[page.index('id="moments"'):page.index("</section>", page.index('id="moments"'))]
    steps = [re.match(r'(\w+)">.*?<strong>(.*?)</strong>(?: <span class="by">by (.*?)</span>)?(.*)', item, re.S).groups()
             for item in section.split('<li class="step step-')[1:]]  # type: ignore[union-attr]
    assert [(kind, title, who) for kind, title, who, _ in steps] == [
        ("fired", "Fired", "rule:RefundsFailing"),
        ("held", "timeline-bot held: normal → read_only", "rule:RefundsFailing"),
        ("acknowledged", "Acknowledged", "operator:olga"),
        ("released", "timeline-bot released: read_only → normal", "operator:bob"),
        ("resolved", "Resolved", "rule:RefundsFailing"),
    ]
    folded = {kind: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)) for kind, _, _, body in steps}
    assert "posted to #pay" in folded["fired"] and "the alert message of RefundsFailing (FIRING)" in folded["fired"]
    assert "thread note in #pay" in folded["held"] and "timeline-bot: normal → read_only" in folded["held"]
    assert "Acknowledged by operator:olga" in folded["acknowledged"]
    assert "updated in #pay" in folded["acknowledged"]
    assert "[MODE] timeline-bot: read_only → normal by operator:bob: provider is back" in folded["released"]
    assert "timeline-bot released: the hold by" in folded["released"]
    assert 'resolved: RefundsFailing{agent="timeline-bot"' in html.unescape(folded["resolved"])
    # every Slack row is folded in its step's <details>, each delivered; nothing of the other agent's alert
    assert section.count('<li class="delivery') == sum(
        d.count('<li class="delivery') for d in re.findall(r"<details.*?</details>", section, re.S))
    assert section.count('<li class="delivery') == section.count("delivery-delivered") >= 8
    assert "other-bot" not in section
    assert [c for c in section if unicodedata.category(c) == "So"] == []  # no emoji a page may not have a font for
