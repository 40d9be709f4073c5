"""The console in a real browser: Playwright drives Debian's Chromium against a real `takeover
serve`, htmx and the console's script running under its Content-Security-Policy. Three flows:
sign in, approve, take over; the approvals queue by keys with edited arguments, live updates, a
stale button refused, pause and a server restart; an alert from a real Prometheus filtered,
acknowledged, silenced and told as a timeline, then every page checked with axe-core light and
dark, on a laptop and a phone, with the screenshots docs/console.md shows."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, Exporter, Server, need, start_server, stop_server, until
from tests.fakeslack import FakeSlack
from tests.test_approvals import bearer, server_env

pytestmark = pytest.mark.slow
CHROMIUM = os.environ.get("TAKEOVER_TEST_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).parent / "axe" / "axe.min.js"  # axe-core 4.14.1 from npm, MPL-2.0 (tests/axe/LICENSE)
SHOTS = ROOT / "docs" / "console"
PHONE: Any = {"width": 390, "height": 844}
LAPTOP: Any = {"width": 1280, "height": 900}


def shots_dir(tmp_path: Path) -> Path:
    """docs/console with TAKEOVER_SCREENSHOTS=1 (to commit them), else the test's own folder."""
    return SHOTS if os.environ.get("TAKEOVER_SCREENSHOTS") == "1" else tmp_path


def survey(browser: Any, base: str, cookies: Any, pages: dict[str, str], *, shots: Path,
           shoot: set[str]) -> list[str]:
    """Open each page light on a laptop and dark on a phone: axe-core's serious and critical
    violations, and a page wider than the phone; screenshots of the pages in `shoot`."""
    from playwright.sync_api import expect

    found: list[str] = []
    for scheme, viewport in (("light", LAPTOP), ("dark", PHONE)):
        context = browser.new_context(viewport=viewport, color_scheme=scheme)
        context.add_init_script(path=str(AXE))  # injected by the browser, not a page script: the CSP stays as it is
        context.add_cookies(cookies)
        page = context.new_page()
        for name, path in pages.items():
            page.goto(f"{base}{path}")
            if page.locator("#live-state").count():  # signed-in pages: wait until live
                expect(page.locator("#live-state")).to_have_text("live")
            result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
            found += [f"{scheme} {path}: {v['id']} ({v['impact']}) {v['help']}: {[n['target'] for n in v['nodes']][:3]}"
                      for v in result["violations"] if v["impact"] in ("serious", "critical")]
            if viewport == PHONE and page.evaluate("document.documentElement.scrollWidth > window.innerWidth"):
                wide = page.evaluate("""[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth)
                                        .slice(0, 4).map(e => e.tagName + '.' + e.className + ': ' + e.textContent.slice(0, 60))""")
                found.append(f"{path} is wider than a phone ({PHONE['width']}px): {wide}")
            if name in shoot:
                page.screenshot(path=str(shots / f"{name}-{scheme}{'-phone' if viewport == PHONE else ''}.png"),
                                full_page=True)
        context.close()
    return found


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = start_server(server_env(tmp_path, f"sqlite:///{tmp_path / 'takeover.db'}"), log=tmp_path / "serve.log")
    yield srv
    stop_server(srv)


@pytest.fixture
def chromium() -> str:
    if not Path(CHROMIUM).is_file():
        need(f"{CHROMIUM} not found: install Debian's chromium (scripts/ensure-chromium; make setup does it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        need("the playwright package is missing: pip install -e '.[test]'")
    return CHROMIUM


def test_an_operator_signs_in_approves_from_the_queue_and_takes_over_an_agent_in_chromium(
        server: Server, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    admin = server.token("--role", "admin", "--name", "browser-root")
    root = bearer(admin)
    operator = httpx.post(f"{server.url}/v1/tokens", headers=root, json={"role": "operator", "name": "olga"}).json()
    agent = httpx.post(f"{server.url}/v1/tokens", headers=root,
                       json={"role": "agent", "name": "pay-bot", "agents": ["pay-bot"]}).json()
    asked = httpx.post(f"{server.url}/v1/agents/pay-bot/actions", headers=bearer(agent["token"]), json={
        "action": "refund", "kind": "write", "risk": "high", "args": {"order": "A-17", "amount": 120},
        "idempotency_key": "A-17"}).json()
    approval = asked["approval"]["id"]

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status == 404 else None)
            page.set_default_timeout(10_000)

            page.goto(f"{server.url}/ui/approvals")  # no session: sent to sign in, then back here
            page.get_by_label("Token").fill(operator["token"])
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/ui/approvals")
            assert page.evaluate("typeof htmx") == "object"  # loaded from the package, under the CSP

            card = page.locator(f"#approval-{approval}")
            assert "0 of 1" in card.inner_text()
            card.get_by_role("button", name="Approve").click()
            page.get_by_role("status").filter(has_text="refund for pay-bot: approved").wait_for()
            decided = httpx.get(f"{server.url}/v1/approvals/{approval}", headers=root).json()
            assert (decided["status"], decided["decided_by"]) == ("approved", "operator:olga")

            page.get_by_role("link", name="pay-bot").first.click()
            page.wait_for_url("**/ui/agents/pay-bot")
            page.get_by_label("Mode").select_option("pause_writes")
            page.get_by_label("Reason (the agent and the audit trail see it)").fill("refunds double-posted")
            page.get_by_label("Ends after (optional, e.g. 30m)").fill("45m")
            page.get_by_role("button", name="Take over").click()
            page.get_by_role("status").filter(has_text="pay-bot is now held in pause_writes for 45m").wait_for()
            doc = httpx.get(f"{server.url}/v1/agents/pay-bot/control", headers=root).json()
            assert doc["mode"] == "pause_writes" and doc["sources"][0]["actor"] == "operator:olga"
        finally:
            browser.close()
    assert problems == [], problems  # no CSP violation, no script error


@contextmanager
def signed_in_page(chromium: str, url: str, token: str, to: str) -> Iterator[tuple[Any, Any, list[str]]]:
    """Chromium, and a laptop-sized page signed in with `token` at `to` (its script errors collected);
    the browser closes on the way out."""
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport=LAPTOP)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.set_default_timeout(10_000)
            expect.set_options(timeout=10_000)
            page.goto(f"{url}/ui/login?next={to}")
            page.get_by_label("Token").fill(token)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"**{to}")
            yield browser, page, problems
        finally:
            browser.close()


@contextmanager
def link_page(target: str) -> Iterator[str]:
    """A page on another site (`localhost`, while the console is on 127.0.0.1) linking to `target`,
    as a Slack message does."""
    body = f'<!doctype html><title>elsewhere</title><a href="{target}">Open in the console</a>'.encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    site = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        yield f"http://localhost:{site.server_address[1]}/"
    finally:
        site.shutdown()
        site.server_close()


def restart(server: Server) -> None:
    """Stop `takeover serve` and start it again on the same port and database."""
    stop_server(server)
    with open(server.log, "a") as out:
        server.process = subprocess.Popen([sys.executable, "-m", "takeover", "serve"],
                                          env={**os.environ, **server.env}, stdout=out,
                                          stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            server.process.poll()
            assert server.process.returncode is None, server.output()
    raise AssertionError("takeover serve did not come back")


def ask(server: Server, agent_token: str, key: str, amount: int) -> str:
    asked = httpx.post(f"{server.url}/v1/agents/pay-bot/actions", headers=bearer(agent_token), json={
        "action": "refund", "kind": "write", "risk": "high", "args": {"order": key, "amount": amount},
        "idempotency_key": key}).json()
    return str(asked["approval"]["id"])


def test_the_queue_is_worked_by_keys_with_edited_arguments_live_updates_and_a_stale_button_refused(
        server: Server, chromium: str) -> None:
    from playwright.sync_api import expect

    admin = server.token("--role", "admin", "--name", "queue-root")
    root = bearer(admin)

    def make(body: dict[str, Any]) -> str:
        return str(httpx.post(f"{server.url}/v1/tokens", headers=root, json=body).json()["token"])

    olga, bob = make({"role": "operator", "name": "olga"}), make({"role": "operator", "name": "bob"})
    agent = make({"role": "agent", "name": "pay-bot", "agents": ["pay-bot"]})
    first, second = ask(server, agent, "A-1", 120), ask(server, agent, "A-2", 80)

    with signed_in_page(chromium, server.url, olga, "/ui/approvals") as (browser, page, problems):
        live = page.locator("#live-state")
        expect(live).to_have_text("live")
        page.evaluate("window.sameDocument = true")  # gone if anything reloads the whole page

        # j moves to the oldest request; edited arguments show as a diff, then approve
        page.keyboard.press("j")
        card = page.locator(f"#approval-{first}")
        expect(card).to_be_focused()
        card.get_by_text("Edit arguments before approving").click()
        card.get_by_label("Arguments to approve with").fill('{"order": "A-1", "amount": 60}')
        expect(card.locator("table.diff tr.changed")).to_contain_text("amount")
        expect(card.locator("table.diff ins")).to_have_text("60")
        card.get_by_role("button", name="Approve").click()
        expect(page.locator(".notice")).to_have_text("refund for pay-bot: approved with amount edited")
        decided = httpx.get(f"{server.url}/v1/approvals/{first}", headers=root).json()
        assert decided["args"]["approved"] == {"amount": 60} and decided["decided_by"] == "operator:olga"
        assert decided["args"]["effective"] == {"order": "A-1", "amount": 60}

        # r starts a rejection; bob approves meanwhile: the typed comment stays, the button is refused
        page.keyboard.press("j")
        stale = page.locator(f"#approval-{second}")
        expect(stale).to_be_focused()
        page.keyboard.press("r")
        page.keyboard.type("wrong order")
        assert httpx.post(f"{server.url}/v1/approvals/{second}/approve", headers=bearer(bob)).status_code == 200
        expect(page.locator("#queue")).to_have_attribute("data-held", "true")
        expect(stale.get_by_label("Comment (required to reject)")).to_have_value("wrong order")
        page.keyboard.press("Enter")
        expect(page.locator(".notice.error")).to_have_text("already approved by operator:bob")
        assert httpx.get(f"{server.url}/v1/approvals/{second}", headers=root).json()["comment"] is None

        # a new request appears without a reload, above the card in focus (which keeps it); a approves it
        expect(stale).to_be_focused()
        third = ask(server, agent, "A-3", 30)
        expect(page.locator(f"#approval-{third}")).to_be_visible()
        expect(stale).to_be_focused()
        page.keyboard.press("k")
        expect(page.locator(f"#approval-{third}")).to_be_focused()
        page.keyboard.press("a")
        expect(page.locator(".notice")).to_have_text("refund for pay-bot: approved")

        # paused: changes wait until resumed
        page.get_by_role("button", name="Pause live").click()
        expect(live).to_have_text("paused")
        fourth = ask(server, agent, "A-4", 10)
        expect(live).to_have_text("paused · updates waiting")
        expect(page.locator(f"#approval-{fourth}")).to_have_count(0)
        page.get_by_role("button", name="Resume live").click()
        expect(page.locator(f"#approval-{fourth}")).to_be_visible()

        # the server restarts: the page says so, reconnects, and is live again
        stop_server(server)
        expect(live).to_have_text("reconnecting…")
        restart(server)
        expect(live).to_have_text("live", timeout=20_000)
        fifth = ask(server, agent, "A-5", 5)
        expect(page.locator(f"#approval-{fifth}")).to_be_visible()
        assert page.evaluate("window.sameDocument") is True
    assert problems == [], problems


def test_an_alert_from_prometheus_is_filtered_acknowledged_silenced_and_told_as_a_timeline(
        alerting: Server, chromium: str, exporter: Exporter, fake_slack: FakeSlack, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    server = alerting
    root = bearer(server.token("--role", "admin", "--name", "incident-root"))
    olga = httpx.post(f"{server.url}/v1/tokens", headers=root, json={"role": "operator", "name": "olga"}).json()
    exporter.set(42, case="console", agent="refund-bot")
    exporter.set(50, case="console", agent="other-bot")
    groups = until(lambda: httpx.get(f"{server.url}/v1/alert-groups", headers=root).json(), lambda g: len(g) == 1)
    fake_slack.wait_for(lambda f: len(f.posts("[FIRING]")) == 1)
    link = 'https://takeover.example.com/ui/alerts?match=alertname%3D%22RefundsFailing%22&amp;match=owner%3D%22team-pay%22'
    assert link in str(fake_slack.posts("[FIRING]")[0]["blocks"])  # &amp; inside a mrkdwn link, as Slack asks

    with signed_in_page(chromium, server.url, olga["token"], "/ui/alerts") as (browser, page, problems):
        # the Slack message's link, followed from another site (Slack's), lands signed in
        with link_page(f"{server.url}/ui/alerts?match=alertname%3D%22RefundsFailing%22") as elsewhere:
            page.goto(elsewhere)
            page.get_by_role("link", name="Open in the console").click()
            page.wait_for_url("**/ui/alerts?match=alertname%3D%22RefundsFailing%22")
            expect(page.locator("#board").get_by_role("heading", name="team-pay")).to_be_visible()
        page.goto(f"{server.url}/ui/alerts")
        board = page.locator("#board")
        expect(board.get_by_role("heading", name="team-pay")).to_be_visible()
        expect(board.locator("tbody tr")).to_have_count(2)
        expect(board.get_by_role("link", name="Runbook").first).to_have_attribute("href", "https://runbooks.example.com/refunds")
        expect(board).to_contain_text("First check: Look at the refund provider's status page.")

        # a label filter is a deep link
        board.get_by_role("link", name='agent="refund-bot"').click()
        page.wait_for_url("**/ui/alerts?match=agent%3D%22refund-bot%22")
        expect(board.locator("tbody tr")).to_have_count(1)
        page.goto(f"{server.url}/ui/alerts?match=agent%3D~%22other.*%22")
        expect(board.locator("tbody tr")).to_have_count(1)
        expect(board).to_contain_text("other-bot")
        page.get_by_role("link", name='Remove filter agent=~"other.*"').click()
        expect(board.locator("tbody tr")).to_have_count(2)

        # acknowledge the Slack message's group, as the API's operation
        page.get_by_role("button", name="Acknowledge RefundsFailing for team-pay").first.click()
        expect(page.locator(".notice")).to_contain_text("its escalation stops")
        acked = httpx.get(f"{server.url}/v1/alert-groups", headers=root).json()
        assert [(g["id"], g["acked_by"]) for g in acked] == [(groups[0]["id"], "operator:olga")]
        expect(board).to_contain_text("acknowledged by operator:olga")

        # a silence: the preview shows what it would mute before it is created
        page.goto(f"{server.url}/ui/alerts?match=agent%3D%22refund-bot%22")
        page.get_by_role("link", name="Silence what matches…").click()
        preview = page.locator("#preview")
        expect(preview).to_contain_text("1 alert(s) firing or pending now")
        expect(preview).to_contain_text('agent="refund-bot"')
        matchers = page.get_by_label("Matchers, one per line")
        matchers.fill('alertname="RefundsFailing"')
        expect(preview).to_contain_text("2 alert(s) firing or pending now")
        matchers.fill('alertname=~"("')
        expect(preview).to_contain_text("invalid regex")
        matchers.fill('agent="refund-bot"')
        expect(preview).to_contain_text("1 alert(s) firing or pending now")
        page.get_by_label("Lasts (e.g. 2h)").fill("2h")
        page.get_by_label("Why (shown with the silence and in the audit trail)").fill("provider incident, known")
        page.get_by_role("button", name="Create silence").click()
        expect(page.locator(".notice")).to_contain_text("created for 2h: it mutes 1 alert(s) now")
        made = httpx.get(f"{server.url}/v1/silences", headers=root).json()
        assert [(s["matchers"], s["created_by"]) for s in made] == [(['agent="refund-bot"'], "operator:olga")]
        page.get_by_role("button", name=f"Expire silence {made[0]['id']}").click()
        expect(page.locator(".notice")).to_have_text(f"silence {made[0]['id']} expired")
        assert httpx.get(f"{server.url}/v1/silences", headers=root).json() == []

        # the episode's timeline: its steps with who, each step's Slack messages folded under it
        page.goto(f"{server.url}/ui/alerts?match=agent%3D%22refund-bot%22")
        page.get_by_role("link", name="Timeline").click()
        moments = page.locator("#moments")
        expect(moments.locator("li.step-acknowledged")).to_contain_text("Acknowledged by operator:olga")
        held = moments.locator("li.step-held")
        expect(held.locator(".delivery").first).to_be_hidden()  # folded
        held.get_by_text("Slack:").click()
        expect(held.locator(".deliveries")).to_contain_text("thread note in #pay")
        httpx.put(f"{server.url}/v1/agents/refund-bot/control", headers=root,
                  json={"mode": "normal", "reason": "provider is back"})
        exporter.set(1, case="console", agent="refund-bot")
        expect(moments.locator("li.step-resolved")).to_contain_text("Resolved", timeout=20_000)  # live, not reloaded
        expect(held.locator("details")).to_have_attribute("open", "")  # what the reader opened stays open
        assert moments.locator(".step-head strong").all_inner_texts() == [
            "Fired", "refund-bot held: normal → read_only", "Acknowledged", "refund-bot released: read_only → normal",
            "Resolved"]
        assert moments.locator(".step-head .by").all_inner_texts() == [
            "by rule:RefundsFailing", "by rule:RefundsFailing", "by operator:olga", "by admin:incident-root",
            "by rule:RefundsFailing"]
        released = moments.locator("li.step-released")
        released.get_by_text("Slack:").click()
        expect(released.locator(".deliveries")).to_contain_text("by admin:incident-root: provider is back")
        moments.screenshot(path=str(shots_dir(tmp_path) / "timeline-folded-light.png"))
        assert "other-bot" not in moments.inner_text()  # the other agent's alert of the group is its own story

        # every page passes axe-core (no serious or critical violation) light and dark, and fits a phone
        timeline = page.url.removeprefix(server.url)
        pay = httpx.post(f"{server.url}/v1/tokens", headers=root,
                         json={"role": "agent", "name": "refund-bot", "agents": ["refund-bot"]}).json()["token"]
        for key, amount in (("R-7", 120), ("R-8", 35)):
            httpx.post(f"{server.url}/v1/agents/refund-bot/actions", headers=bearer(pay), json={
                "action": "refund", "kind": "write", "risk": "high", "args": {"order": key, "amount": amount},
                "idempotency_key": key, "reason": "customer asked twice"})
        httpx.post(f"{server.url}/v1/silences", headers=root, json={
            "matchers": ['agent="other-bot"'], "duration": "2h", "comment": "known: provider maintenance"})
        httpx.put(f"{server.url}/v1/agents/pay-bot/control", headers=root,
                  json={"mode": "pause_writes", "reason": "refunds double-posted", "expires_in": "45m"})
        pages = {"login": "/ui/login", "overview": "/ui/", "approvals": "/ui/approvals", "alerts": "/ui/alerts",
                 "timeline": timeline, "silences": "/ui/silences?matchers=alertname%3D%22RefundsFailing%22",
                 "rules": "/ui/rules", "audit": "/ui/audit", "agent": "/ui/agents/refund-bot",
                 "refused": "/ui/alerts/999999/timeline"}
        found = survey(browser, server.url, page.context.cookies(), pages, shots=shots_dir(tmp_path),
                       shoot={"overview", "approvals", "alerts", "timeline", "silences", "rules", "audit", "agent"})
        assert found == [], "\n".join(found)
    assert problems == [], problems


def test_the_banner_appears_live_when_slack_refuses_the_token_and_goes_once_the_messages_are_retried(
        refusing: Server, chromium: str, fake_slack: FakeSlack, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    server = refusing
    root = bearer(server.token("--role", "admin", "--name", "banner-root"))
    olga = httpx.post(f"{server.url}/v1/tokens", headers=root, json={"role": "operator", "name": "olga"}).json()
    with signed_in_page(chromium, server.url, olga["token"], "/ui/alerts") as (browser, page, problems):
        expect(page.locator("#live-state")).to_have_text("live")
        banner = page.locator("#undelivered")
        expect(banner).to_be_empty()
        httpx.put(f"{server.url}/v1/agents/refund-bot/control", headers=root,
                  json={"mode": "read_only", "reason": "refunds look wrong"})
        # live: the page is not reloaded; the change and then the meta-alert's page are refused
        expect(banner).to_contain_text("2 messages could not be delivered to Slack", timeout=20_000)
        expect(banner).to_contain_text("invalid_auth")
        found = survey(browser, server.url, page.context.cookies(), {"undelivered": "/ui/notifications",
                                                                    "banner": "/ui/"},
                       shots=shots_dir(tmp_path), shoot={"undelivered", "banner"})
        assert found == [], "\n".join(found)
        banner.get_by_role("link", name="See them, retry or dismiss").click()
        page.wait_for_url("**/ui/notifications")
        fake_slack.refuse_all = None  # the token is fixed
        for button in page.get_by_role("button", name="Retry message").all()[::-1]:
            button.click()
            expect(page.locator(".notice")).to_contain_text("is queued again")
        expect(page.locator("#undeliverable")).to_contain_text("Every message was delivered or is on its way")
        expect(banner).to_be_empty()
    fake_slack.wait_for(lambda f: [str(m["text"])[:6] for m in f.messages.values()].count("[MODE]") == 1)
    assert problems == [], problems


@pytest.fixture
def refusing(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[Server]:
    """`takeover serve` with a Slack token Slack refuses (`invalid_auth`)."""
    (tmp_path / "routing.yml").write_text('group_wait: 0s\ngroup_interval: 1s\n')
    fake_slack.refuse_all = "invalid_auth"
    srv = start_server({**server_env(tmp_path, f"sqlite:///{tmp_path / 'takeover.db'}"),
                        "TAKEOVER_ROUTING": str(tmp_path / "routing.yml"), "TAKEOVER_SLACK_TOKEN": "xoxb-revoked",
                        "TAKEOVER_SLACK_API_URL": fake_slack.url, "TAKEOVER_DELIVER_INTERVAL": "0.2",
                        "TAKEOVER_DISPATCH_INTERVAL": "0.2"}, log=tmp_path / "serve.log")
    yield srv
    stop_server(srv)
