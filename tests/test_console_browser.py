"""The console in a real browser: Playwright drives Debian's Chromium against a real `takeover
serve` — sign in, approve from the queue, take over an agent from its page — with htmx running
under the console's Content-Security-Policy, and screenshots of what a person sees."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, need, start_server, stop_server
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
