"""Releases in the agent SDK: which variant a key runs, and the variant an action carries; pure, no server."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from typing import Any

import httpx
import pytest

import takeover.sdk as sdk
from takeover.sdk import Action, Client, ControlState, Status, Variant, bucket

URL = "http://takeover.test"
AGENT = "refund-bot"
STABLE = {"version": "v41", "model": "gpt-x", "prompt": "p3"}
CANARY = {"version": "v42", "model": "gpt-y", "prompt": "p4"}
KEYS = [f"user-{i}" for i in range(10_000)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def release(weight_bp: int = 500, *, state: str = "progressing", canary: dict[str, Any] | None = CANARY,
            number: int = 7) -> dict[str, Any]:
    return {"id": number, "state": state, "weight_bp": weight_bp, "stable": STABLE, "canary": canary}


def synced(release: dict[str, Any] | None, clock: Clock | None = None) -> ControlState:
    """A core that has just received a control document carrying `release`."""
    state = ControlState(URL, token="tko_test", agent=AGENT, max_staleness=10.0, clock=clock or Clock())
    request = state.poll_request(wait=0)
    assert state.record(httpx.Response(200, json={"agent": AGENT, "mode": "normal", "version": 1, "release": release},
                                       headers={"ETag": '"1-a"'}, request=request))
    return state


def canaries(state: ControlState, keys: list[str]) -> set[str]:
    return {key for key in keys if state.variant(key).name == "canary"}


def test_the_bucket_is_sha256_of_agent_release_and_key_mod_10000() -> None:
    expected = int.from_bytes(hashlib.sha256(f"{AGENT}\x007\x00user-1".encode()).digest()[:8], "big") % 10_000
    assert bucket(AGENT, 7, "user-1") == expected
    # pinned, so a change of the formula (which would reshuffle every rollout) is seen
    assert [bucket(AGENT, 7, key) for key in ("user-1", "user-2", "conv-42", "ü-ñ")] == [9439, 9453, 2626, 6363]
    assert all(0 <= bucket(AGENT, 7, key) < 10_000 for key in KEYS)


def test_a_new_release_or_another_agent_deals_the_keys_afresh() -> None:
    first = {key for key in KEYS if bucket(AGENT, 7, key) < 2000}
    assert abs(len(first & {key for key in KEYS if bucket(AGENT, 8, key) < 2000}) / len(KEYS) - 0.04) < 0.01
    assert abs(len(first & {key for key in KEYS if bucket("other-bot", 7, key) < 2000}) / len(KEYS) - 0.04) < 0.01


def test_a_key_in_the_canary_stays_there_while_the_weight_rises() -> None:
    weights = [0, 1, 100, 500, 1000, 2500, 5000, 9000, 9999, 10_000]
    cohorts = [canaries(synced(release(weight)), KEYS) for weight in weights]
    for narrower, wider in zip(cohorts, cohorts[1:], strict=False):
        assert narrower <= wider
    assert not cohorts[0] and cohorts[-1] == set(KEYS)


@pytest.mark.parametrize("weight_bp", [500, 2000, 5000])
def test_the_canary_share_is_within_one_percent_of_the_weight(weight_bp: int) -> None:
    keys = 100_000
    share = sum(bucket(AGENT, 7, f"conversation-{i}") < weight_bp for i in range(keys)) / keys
    assert abs(share - weight_bp / 10_000) <= 0.01


def test_every_process_puts_a_key_in_the_same_bucket() -> None:
    keys = [f"user-{i}" for i in range(200)] + ["ü-ñ", "", "a\x00b"]
    script = ("import json, sys; from takeover.sdk import bucket; "
              "print(json.dumps([bucket('refund-bot', 7, k) for k in json.loads(sys.stdin.read())]))")
    for seed in ("0", "12345"):
        other = subprocess.run([sys.executable, "-c", script], input=json.dumps(keys), capture_output=True,
                               text=True, check=True, env={**os.environ, "PYTHONHASHSEED": seed})
        assert json.loads(other.stdout) == [bucket(AGENT, 7, key) for key in keys]


def test_a_key_below_the_weight_runs_the_canary_with_its_descriptor() -> None:
    state = synced(release(5000))
    key = next(key for key in KEYS if bucket(AGENT, 7, key) < 5000)
    other = next(key for key in KEYS if bucket(AGENT, 7, key) >= 5000)
    assert state.variant(key) == Variant("canary", "v42", {"model": "gpt-y", "prompt": "p4"}, 7)
    assert state.variant(other) == Variant("stable", "v41", {"model": "gpt-x", "prompt": "p3"}, 7)
    assert hash(state.variant(key)) == hash(state.variant(key))  # usable as a metric label or dict key


def test_a_stale_or_unreachable_document_gives_the_stable_version() -> None:
    assert synced(None).variant("user-1") == Variant("stable", None, {}, None)
    never = ControlState(URL, token="tko_test", agent=AGENT)
    assert never.status() == Status.unreachable and never.variant("user-1") == Variant("stable", None, {}, None)

    clock = Clock()
    state = synced(release(10_000), clock)
    assert canaries(state, KEYS[:100]) == set(KEYS[:100])
    clock.now += 10.5
    assert state.status() == Status.stale
    last_stable = Variant("stable", "v41", {"model": "gpt-x", "prompt": "p3"}, 7)
    assert {state.variant(key) for key in KEYS[:100]} == {last_stable}  # the stale document's stable version
    assert not state.record(httpx.ConnectError("refused"))
    assert state.status() == Status.unreachable and not canaries(state, KEYS[:100])


@pytest.mark.parametrize("document", [release(0), release(10_000, state="promoted", canary=None),
                                      release(10_000, state="rolled_back"), None])
def test_no_weight_no_canary_or_no_release_gives_the_stable_version(document: dict[str, Any] | None) -> None:
    state = synced(document)
    assert not canaries(state, KEYS[:2000])
    assert state.variant("user-1").version == (None if document is None else "v41")


def test_an_action_carries_the_variant_it_ran_under() -> None:
    state = synced(release(5000))
    variant = Variant("canary", "v42", {"model": "gpt-y"}, 7)
    asked = next(state.authorize(Action("refund", args={"order": "A1"}, variant=variant)))
    assert isinstance(asked, httpx.Request) and asked.url == f"{URL}/v1/agents/{AGENT}/actions"
    assert json.loads(asked.read()) == {
        "action": "refund", "kind": "write", "risk": "low", "args": {"order": "A1"}, "idempotency_key": None,
        "variant": {"release": 7, "name": "canary", "version": "v42"}}
    for without in (None, Variant("stable", None, {}, None)):  # no release: nothing to audit, the body is as before
        plain = next(state.authorize(Action("refund", variant=without)))
        assert isinstance(plain, httpx.Request) and "variant" not in json.loads(plain.read())


def test_the_clients_guard_sends_the_variant_it_was_given() -> None:
    bodies: list[dict[str, Any]] = []

    def server(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"agent": AGENT, "mode": "normal", "version": 1,
                                             "release": release(10_000)}, headers={"ETag": '"1-a"'})
        bodies.append(json.loads(request.read()))
        return httpx.Response(200, json={"decision": "allow", "reason": "", "mode": "normal", "version": 1})

    client = Client(URL, token="tko_test", agent=AGENT)
    # the client's own loop, over a mock transport, without the background thread
    client._http, client._stop = httpx.Client(transport=httpx.MockTransport(server)), threading.Event()
    client.running = True
    try:
        client.run(client.state.first_sync())
        variant = client.variant("user-1")
        assert variant == Variant("canary", "v42", {"model": "gpt-y", "prompt": "p4"}, 7)

        @client.guard(action="refund", variant=variant)
        def refund(order: str) -> str:
            return order
        assert refund("A1") == "A1"
        with client.guard(action="lookup", kind="read", variant=variant):
            pass
    finally:
        client.close()
    assert [body["variant"] for body in bodies] == [{"release": 7, "name": "canary", "version": "v42"}] * 2


def test_variant_and_bucket_are_public() -> None:
    assert {"Variant", "bucket"} <= set(sdk.__all__)
    assert "variant(key)" in (sdk.__doc__ or "") and "Variant" in (sdk.__doc__ or "")
