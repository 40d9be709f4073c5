"""The console in a real browser: Playwright drives Debian's Chromium against a real `takeover
serve` — sign in, approve from the queue, take over an agent from its page — with htmx running
under the console's Content-Security-Policy, and screenshots of what a person sees."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, Server, need, start_server, stop_server
from tests.test_approvals import bearer, server_env

pytestmark = pytest.mark.slow
CHROMIUM = os.environ.get("TAKEOVER_TEST_CHROMIUM", "/usr/bin/chromium")


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
        server: Server, chromium: str, tmp_path: Path) -> None:
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
            page.screenshot(path=str(tmp_path / "agent-light.png"), full_page=True)

            phone = browser.new_page(viewport={"width": 390, "height": 844}, color_scheme="dark")
            phone.context.add_cookies(page.context.cookies())
            phone.goto(f"{server.url}/ui/")
            phone.get_by_text("refunds double-posted").wait_for()
            phone.screenshot(path=str(tmp_path / "overview-dark-phone.png"), full_page=True)
            phone.goto(f"{server.url}/ui/agents/pay-bot")
            phone.screenshot(path=str(tmp_path / "agent-dark-phone.png"), full_page=True)
        finally:
            browser.close()
    assert problems == [], problems  # no CSP violation, no script error


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
    from playwright.sync_api import expect, sync_playwright

    admin = server.token("--role", "admin", "--name", "queue-root")
    root = bearer(admin)

    def make(body: dict[str, Any]) -> str:
        return str(httpx.post(f"{server.url}/v1/tokens", headers=root, json=body).json()["token"])

    olga, bob = make({"role": "operator", "name": "olga"}), make({"role": "operator", "name": "bob"})
    agent = make({"role": "agent", "name": "pay-bot", "agents": ["pay-bot"]})
    first, second = ask(server, agent, "A-1", 120), ask(server, agent, "A-2", 80)

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.set_default_timeout(10_000)
            expect.set_options(timeout=10_000)
            page.goto(f"{server.url}/ui/login?next=/ui/approvals")
            page.get_by_label("Token").fill(olga)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/ui/approvals")
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
        finally:
            browser.close()
    assert problems == [], problems
