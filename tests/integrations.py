"""What the framework adapters' tests share: a real `takeover serve` with a policy that expires
quickly, and an operator deciding over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import stop_server
from tests.test_sdk import Served, serve

POLICIES = """\
policies:
  - name: quick
    action: "expiring_*"
    decision: require_approval
    reason: a human looks, briefly
    expires_in: 1s
"""


@pytest.fixture(scope="module")
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One governed server per test module (import this fixture with `normal`)."""
    served = serve_governed(tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2]))
    yield served
    stop_server(served.server)


@pytest.fixture
def normal(served: Served) -> Served:
    """The module's server with its agent back in mode normal."""
    served.set_mode("normal")
    return served


def serve_governed(tmp: Path) -> Served:
    """A server whose agent `bot` is in mode normal: a high-risk write needs a human; actions
    named expiring_* ask a human who has 1 s to answer."""
    (tmp / "policies.yml").write_text(POLICIES)
    served = serve(tmp, TAKEOVER_POLICIES=str(tmp / "policies.yml"))
    served.set_mode("normal")
    return served


def operator(served: Served) -> dict[str, str]:
    return {"Authorization": f"Bearer {served.operator}"}


def pending(served: Served, key: str, *, timeout: float = 15.0) -> dict[str, Any]:
    """The pending approval request of bot with idempotency key `key`, once it shows."""
    deadline = time.monotonic() + timeout
    while True:
        found = httpx.get(f"{served.server.url}/v1/approvals", params={"status": "pending", "agent": "bot"},
                          headers=operator(served))
        assert found.status_code == 200, found.text
        mine = [a for a in found.json() if a["idempotency_key"] == key]
        if mine:
            return dict(mine[0])
        assert time.monotonic() < deadline, f"no pending request for {key} after {timeout}s"
        time.sleep(0.05)


def decide(served: Served, approval_id: str, verb: str, **body: Any) -> dict[str, Any]:
    """An operator approves (`args=` edits) or rejects (`comment=`) a request over the API."""
    decided = httpx.post(f"{served.server.url}/v1/approvals/{approval_id}/{verb}", json=body,
                         headers=operator(served))
    assert decided.status_code == 200, decided.text
    return dict(decided.json())


def audit(served: Served, **filters: str) -> list[dict[str, Any]]:
    """The audit trail's rows about bot (oldest first)."""
    found = httpx.get(f"{served.server.url}/v1/audit", params={"agent": "bot", "limit": "1000", **filters},
                      headers=operator(served))
    assert found.status_code == 200, found.text
    return list(found.json()["rows"])


def asked(served: Served, key: str) -> list[str]:
    """The decisions audited for the actions asked with idempotency key `key`, in order."""
    return [row["action"] for row in audit(served, action="action.")
            if (row["after"] or {}).get("idempotency_key") == key]


def shown(served: Served, approval_id: str) -> dict[str, Any]:
    """The approval request as an operator sees it."""
    found = httpx.get(f"{served.server.url}/v1/approvals/{approval_id}", headers=operator(served))
    assert found.status_code == 200, found.text
    return dict(found.json())


def wait_until_expired(served: Served, approval_id: str, *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        request = shown(served, approval_id)
        if request["status"] == "expired":
            return
        assert time.monotonic() < deadline, request
        time.sleep(0.1)
