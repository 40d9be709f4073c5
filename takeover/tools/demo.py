"""`takeover demo`: a real Prometheus scraping a demo agent whose error rate climbs, and takeover
watching it with the rules in `rules/`, printing Slack messages to the terminal; and a second
agent whose new version goes out as a canary release, misbehaves, and is rolled back."""

from __future__ import annotations

import logging
import random
import tempfile
import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, start_http_server

from takeover.tools.promproc import free_port, running_prometheus, scrape_config

DEMO_AGENT = "demo-agent"
RELEASE_AGENT = "demo-release-bot"
RELEASE_AFTER = 3.0  # seconds before the demo starts the release
CANARY_ERRORS, STABLE_ERRORS = 0.4, 0.01
# Alertmanager's timings as in production: a takeover is news at once anyway (no group_wait)
DEMO_ROUTING = """\
owners:
  agents-oncall: {channel: "#agents-oncall", mention: S0DEMO01}
  agents-finops: {channel: "#agents-finops"}
agents:
  demo-*: agents-oncall
"""
ASK_AFTER = 8.0  # seconds before the demo agent asks a human to approve a high-risk action


def serve_demo_agent(*, port: int, host: str = "127.0.0.1", climb_after: float = 20.0,
                     agent: str = DEMO_AGENT, block: bool = False) -> threading.Event:
    """Export an agent's request, cost and tool-call counters; errors climb after `climb_after` s.

    Returns an Event that stops the traffic when set (or blocks forever with `block=True`)."""
    registry = CollectorRegistry()
    requests = Counter("agent_requests", "Agent requests by outcome", ["agent", "outcome"], registry=registry)
    cost = Counter("agent_cost_dollars", "Model spend in dollars", ["agent"], registry=registry)
    tools = Counter("agent_tool_calls", "Tool calls by risk", ["agent", "tool", "risk"], registry=registry)
    for outcome in ("ok", "error", "timeout"):
        requests.labels(agent, outcome)
    start_http_server(port, addr=host, registry=registry)
    stop = threading.Event()
    started = time.monotonic()

    def traffic() -> None:
        rng = random.Random(7)
        while not stop.wait(0.25):
            error_rate = 0.5 if time.monotonic() - started > climb_after else 0.01
            for _ in range(10):
                roll = rng.random()
                outcome = "error" if roll < error_rate else "timeout" if roll < error_rate + 0.01 else "ok"
                requests.labels(agent, outcome).inc()
                cost.labels(agent).inc(0.002)
            tools.labels(agent, "search", "low").inc(3)
            if rng.random() < 0.05:
                tools.labels(agent, "refund", "high").inc()

    threading.Thread(target=traffic, name="demo-agent", daemon=True).start()
    if block:
        stop.wait()
    return stop


def serve_release_agent(*, port: int, base: str, token: str) -> threading.Event:
    """An agent that runs each request under the variant the SDK picks for its key (a canary
    version that fails 40 % of its requests), exports its requests by variant, and makes a
    guarded refund on every fifth request (the canary's show up in the rollback report)."""
    from takeover.sdk import Client, TakeoverError

    registry = CollectorRegistry()
    requests = Counter("agent_requests", "Agent requests by variant and outcome", ["agent", "variant", "outcome"],
                       registry=registry)
    start_http_server(port, addr="127.0.0.1", registry=registry)
    stop = threading.Event()
    client = Client(base, token=token, agent=RELEASE_AGENT, wait=5.0)

    def traffic() -> None:
        rng = random.Random(11)
        client.start()  # keeps polling until the server answers
        n = 0
        while not stop.wait(0.25):
            for _ in range(10):
                n += 1
                variant = client.variant(f"customer-{n % 500}")
                rate = CANARY_ERRORS if variant.name == "canary" else STABLE_ERRORS
                requests.labels(RELEASE_AGENT, variant.name, "error" if rng.random() < rate else "ok").inc()
                if n % 5 == 0 and client.status == "fresh" and client.mode() == "normal":  # held: no refunds
                    try:
                        with client.guard(action="refund", args={"order": f"B-{n}", "amount": 20},
                                          idempotency_key=f"refund-{n}", variant=variant):
                            pass  # a real agent would call the payment API here
                    except TakeoverError:
                        pass  # held or unreachable: no refund
        client.close()

    threading.Thread(target=traffic, name="demo-release-bot", daemon=True).start()
    return stop


def run_release(base: str, operator: str, stopping: threading.Event) -> None:
    """Start a canary release of demo-release-bot, then tell the story of its rollback."""
    import httpx

    if stopping.wait(RELEASE_AFTER):
        return
    auth = {"Authorization": f"Bearer {operator}"}
    check = {"name": "error-ratio", "max_ratio": 1.5, "max_delta": 0.01, "min_samples": 20, "failure_limit": 2,
             "query": f'sum(rate(agent_requests_total{{agent="{RELEASE_AGENT}",variant="$variant",outcome="error"}}[30s]))'
                      f' / sum(rate(agent_requests_total{{agent="{RELEASE_AGENT}",variant="$variant"}}[30s]))',
             "samples": f'sum(increase(agent_requests_total{{agent="{RELEASE_AGENT}",variant="$variant"}}[30s]))'}
    body = {"stable": {"version": "v41", "model": "model-a"}, "canary": {"version": "v42", "model": "model-b"},
            "steps": [10, 50, 100], "every": "30s", "hold": "require_approval", "analysis": {"checks": [check]}}
    url = f"{base}/v1/agents/{RELEASE_AGENT}/releases"
    begun = time.monotonic()
    try:
        started = httpx.post(url, headers=auth, json=body, timeout=5)
        print(f"\n>>> release of {RELEASE_AGENT}: v41 → v42 at 10 % of its customers "
              f"({started.status_code}); its canary fails {CANARY_ERRORS:.0%} of requests", flush=True)
        while True:
            if stopping.wait(1.0):
                return
            release = httpx.get(f"{url}/current", headers=auth, timeout=5).json()
            if release["state"] == "rolled_back":
                break
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        if not stopping.is_set():
            print(f"demo release failed: {exc}", flush=True)
        return
    curl = f"curl -s -H 'Authorization: Bearer {operator}' {url}/current/report"
    print(f"""
>>> release {release['id']} of {RELEASE_AGENT} ROLLED BACK after {time.monotonic() - begun:.0f} s: {release['reason']}
    every customer is back on v41; {release['to_reconcile']} refunds the canary made await reconciling:
    {curl}
    (or `takeover release report {RELEASE_AGENT}` with TAKEOVER_DATABASE_URL pointing at the demo's database)
""", flush=True)


def ask_for_approval(base: str, agent: str, operator: str, stopping: threading.Event) -> None:
    """The demo agent asks to run a high-risk action and prints how a human answers it."""
    import httpx

    if stopping.wait(ASK_AFTER):  # the demo's own pacing, so the story reads in order
        return
    try:
        answer = httpx.post(f"{base}/v1/approvals", headers={"Authorization": f"Bearer {agent}"}, timeout=5, json={
            "agent": DEMO_AGENT, "action": "refund", "kind": "write", "risk": "high",
            "args": {"order": "A-1042", "amount": 480}, "reason": "customer asked for a refund",
            "expires_in": "10m"})
        approval = answer.json()["id"]
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        if not stopping.is_set():
            print(f"demo agent could not ask for approval: {exc}", flush=True)
        return
    auth = f"-H 'Authorization: Bearer {operator}' -H 'Content-Type: application/json'"
    print(f"""
>>> {DEMO_AGENT} asks to run a high-risk refund and waits for a human (approval {approval}):
  approve:  curl -s -X POST {auth} {base}/v1/approvals/{approval}/approve
  reject:   curl -s -X POST {auth} -d '{{"comment": "not without a ticket"}}' {base}/v1/approvals/{approval}/reject
  (no decision within 10 minutes means no)
""", flush=True)


def run_demo(*, api_port: int) -> None:
    """Run everything on loopback until Ctrl-C, then stop what was started."""
    from sqlmodel import Session

    from takeover import store
    from takeover.control.principal import new_token
    from takeover.server.logs import configure_logging
    from takeover.server.run import build_service, run_server

    configure_logging("text", level=logging.WARNING)  # the story on the terminal; problems only
    from takeover.server.settings import Settings

    operator, agent, release_bot = new_token(), new_token(), new_token()
    base = f"http://127.0.0.1:{api_port}"
    print(f"""takeover demo — open the console: {base}/ui
  sign in with this operator token: {operator}
""", flush=True)
    agent_port, release_port = free_port(), free_port()
    stop_agent = serve_demo_agent(port=agent_port)
    print(f"demo agent exporting metrics on http://127.0.0.1:{agent_port}/metrics "
          "(error rate climbs after 20 s)")
    targets = [f"127.0.0.1:{agent_port}", f"127.0.0.1:{release_port}"]
    with tempfile.TemporaryDirectory(prefix="takeover-demo-") as tmp, \
            running_prometheus(scrape_config(targets, interval="2s")) as prom_url:
        print(f"prometheus on {prom_url}")
        routing = Path(tmp) / "routing.yml"
        routing.write_text(DEMO_ROUTING)
        settings = Settings(database_url=f"sqlite:///{Path(tmp) / 'takeover.db'}", routing=str(routing),
                            prometheus_url=prom_url, port=api_port, slack_token=None, release_interval=5.0,
                            policies="policies.yml" if Path("policies.yml").is_file() else None)
        service = build_service(settings)
        with Session(service.engine) as session:
            store.create_token(session=session, name="demo-operator", role="operator", agents=[],
                               token=operator, now=time.time(), actor="system:demo")
            store.create_token(session=session, name=DEMO_AGENT, role="agent", agents=[DEMO_AGENT],
                               token=agent, now=time.time(), actor="system:demo")
            store.create_token(session=session, name=RELEASE_AGENT, role="agent", agents=[RELEASE_AGENT],
                               token=release_bot, now=time.time(), actor="system:demo")
            store.ensure_agent(session=session, name=RELEASE_AGENT, now=time.time())
            session.commit()

        def show_modes(agents: list[str]) -> None:
            with Session(service.engine) as session:
                for name in agents:
                    doc = store.control_document(session=session, agent=name, now=time.time())
                    if doc is not None:
                        why = "; ".join(f"{s['kind']} {s['ref']}: {s['reason']}" for s in doc["sources"])
                        print(f"\n>>> {name} is now {doc['mode'].upper()} (version {doc['version']})"
                              f"{' because ' + why if why else ''}", flush=True)

        service.hub.subscribe(show_modes)
        print(f"""takeover on {base} (the console: {base}/ui); the alert fires within about a minute. Meanwhile:

  the agent's control document:
    curl -s -H 'Authorization: Bearer {agent}' {base}/v1/agents/{DEMO_AGENT}/control
  hand control back (as an operator):
    curl -s -X PUT -H 'Authorization: Bearer {operator}' -H 'Content-Type: application/json' \\
      -d '{{"mode": "normal", "reason": "error rate fixed"}}' {base}/v1/agents/{DEMO_AGENT}/control

Ctrl-C stops everything.
""", flush=True)
        stopping = threading.Event()
        threading.Thread(target=ask_for_approval, args=(base, agent, operator, stopping), name="demo-approval",
                         daemon=True).start()
        stop_release_agent = serve_release_agent(port=release_port, base=base, token=release_bot)
        threading.Thread(target=run_release, args=(base, operator, stopping), name="demo-release",
                         daemon=True).start()

        def stop_agents() -> None:  # the last started stops first: agents, takeover, then Prometheus
            for event in (stopping, stop_release_agent, stop_agent):
                event.set()

        try:
            run_server(service, host="127.0.0.1", port=api_port, on_exit=stop_agents)
        finally:
            stop_agents()
