"""The sans-I/O core: `ControlState`, the cached control document and the flows that keep and use it;
which variant of a release a key runs."""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from .answers import failure, refusal, settled
from .errors import (
    DENIALS,
    ApprovalRequired,
    ApprovalTimeout,
    ControlPlaneUnreachable,
    Denied,
    Refused,
    RequestRejected,
    WritesPaused,
)
from .model import Action, Flow, Outcome, Permit, ReadPolicy, Status, Synced, Variant, VariantName

BACKOFF_BASE, BACKOFF_CAP = 0.25, 10.0  # seconds
IDLE = 1.0  # seconds between polls when a server answers long-polls at once
APPROVAL_POLL = 30.0  # seconds one long-poll of an approval request may block (the server caps it at 60)
BASIS_POINTS = 10_000  # the scale of a release's weight_bp: 500 is 5%
INSTANCE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # what the server records as an instance id
NO_RELEASE = Variant("stable", None, {}, None)


def route(request_id: str, ratio: float) -> bool:
    """Canary bucketing: sha256 of the id as a number in [0, 1), below `ratio`; deterministic.

    The older ratio-only form, kept for `canary()`; releases use `bucket` and `ControlState.variant`."""
    return int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:8], "big") / 2**64 < ratio


def bucket(agent: str, release: int, key: str) -> int:
    """The key's bucket in [0, 10000) for one release of one agent: sha256 of
    "{agent}\\x00{release}\\x00{key}" (UTF-8), its first 8 bytes big-endian, mod 10000.

    Pure: every process and every SDK version agrees. A new release deals the keys afresh, so
    the same users are not always the first to get a canary."""
    digest = hashlib.sha256(f"{agent}\x00{release}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BASIS_POINTS


def choose_variant(release: object, *, agent: str, key: str, fresh: bool) -> Variant:
    """The variant `key` runs under `release` (the control document's "release", its contract
    in the package docstring): the canary iff the document is `fresh`, the release has a canary
    and is not rolled back, and bucket(agent, release id, key) < weight_bp; else the stable
    version, or NO_RELEASE without a release.

    Not fresh gives stable: the canary is the riskier choice, and the weight may have been
    lowered or the release rolled back since. The threshold is monotone: raising weight_bp only
    adds keys to the canary, never moves one back to stable while the rollout widens."""
    if not isinstance(release, Mapping) or type(release.get("id")) is not int:
        return NO_RELEASE
    number, canary, weight = release["id"], release.get("canary"), release.get("weight_bp")
    if (fresh and isinstance(canary, Mapping) and release.get("state") != "rolled_back"
            and isinstance(weight, int) and bucket(agent, number, key) < weight):
        return version_variant("canary", canary, release=number)
    return version_variant("stable", release.get("stable"), release=number)


def version_variant(name: VariantName, entry: object, *, release: int) -> Variant:
    """A release's stable or canary entry ({"version": ..., descriptor...}) as a Variant."""
    if not isinstance(entry, Mapping):
        return Variant(name, None, {}, release)
    version = entry.get("version")
    return Variant(name, None if version is None else str(version),
                   {k: v for k, v in entry.items() if k != "version"}, release)


def action_body(act: Action) -> dict[str, Any]:
    """The JSON of `POST /v1/agents/{agent}/actions`; with the variant the action runs under,
    when that belongs to a release (the server audits it)."""
    body: dict[str, Any] = {"action": act.name, "kind": act.kind, "risk": act.risk, "args": dict(act.args),
                            "idempotency_key": act.idempotency_key}
    if act.variant is not None and act.variant.release is not None:
        body["variant"] = {"release": act.variant.release, "name": act.variant.name, "version": act.variant.version}
    return body


def backoff(failures: int, *, cap: float, jitter: float) -> float:
    """Seconds to sleep after `failures` failed attempts in a row: doubling up to `cap`, scaled
    into its upper half by `jitter` in [0, 1) so clients that failed together spread out."""
    return min(cap, BACKOFF_BASE * 2.0 ** min(max(failures - 1, 0), 30)) * (0.5 + jitter / 2)


class ControlState:
    """The sans-I/O core: the cached control document, its freshness, and what to send next.

    With `age` = now - when the last 200 or 304 arrived (a 304 counts only for the cached ETag):
      fresh: age <= max_staleness, even if an attempt has failed since;
      stale: age > max_staleness and no attempt since the last sync has failed (one is in
             flight, or nothing is polling);
      unreachable: never synced, or age > max_staleness and the latest attempt failed.
    """

    def __init__(self, base_url: str, *, token: str, agent: str, max_staleness: float = 30.0,
                 read_policy: ReadPolicy = "allow", wait: float = 25.0, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, instance: str | None = None) -> None:
        if read_policy not in ("allow", "deny") or max_staleness <= 0 or timeout <= 0 or wait < 0:
            raise ValueError("read_policy is allow|deny; max_staleness, timeout > 0; wait >= 0")
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/v1/agents/{quote(agent, safe='')}"
        self.agent, self.max_staleness, self.read_policy = agent, max_staleness, read_policy
        self.timeout, self.clock = timeout, clock
        # a long-poll's answer must come before the document goes stale: leave it `timeout`, or half
        self.poll_wait = min(wait, max(max_staleness / 2, max_staleness - timeout))
        # a random id per process (or the caller's, e.g. a pod name): the server tells which
        # instances hold the current document
        self.instance = instance or f"i-{uuid.uuid4().hex[:12]}"
        if not INSTANCE_ID.fullmatch(self.instance):
            raise ValueError(f"instance {self.instance!r}: 1-64 of A-Z a-z 0-9 . _ : -")
        self.headers = {"Authorization": f"Bearer {token}", "X-Takeover-Instance": self.instance}
        self.synced: Synced | None = None
        self.failures = 0  # attempts failed in a row since the last sync
        self.last_error = ""

    def status(self) -> Status:
        """fresh, stale or unreachable: see the class docstring."""
        synced = self.synced
        if synced is not None and self.clock() - synced.at <= self.max_staleness:
            return Status.fresh
        return Status.unreachable if synced is None or self.failures else Status.stale

    def fresh_document(self) -> dict[str, Any]:
        """The cached document; raises ControlPlaneUnreachable unless it is fresh."""
        synced = self.synced
        if synced is None or self.status() != Status.fresh:
            age = "never synced" if synced is None else f"{self.clock() - synced.at:.1f}s old"
            raise ControlPlaneUnreachable(f"the control document of {self.agent!r} is {age} (max_staleness "
                                          f"{self.max_staleness}s); last error: {self.last_error or 'none'}")
        return synced.document

    def canary(self, request_id: str) -> bool:
        """`route` by the fresh document's canary_ratio; no canary when absent or not fresh.

        The older ratio-only form: `variant` also names the versions and keeps to one release."""
        with suppress(ControlPlaneUnreachable):
            return route(request_id, float(self.fresh_document().get("canary_ratio") or 0.0))
        return False

    def variant(self, key: str) -> Variant:
        """The variant `key` runs by the cached document's release (see `choose_variant`): the
        canary only while the document is fresh; otherwise the last known stable version."""
        document = {} if self.synced is None else self.synced.document
        return choose_variant(document.get("release"), agent=self.agent, key=key,
                              fresh=self.status() == Status.fresh)

    def poll_request(self, *, wait: float, version: int | None = None) -> httpx.Request:
        """GET the document; with `wait`, long-poll until it differs from the cached one (and `version`)."""
        headers, params = dict(self.headers), {}
        if self.synced is not None:
            headers["If-None-Match"] = self.synced.etag
        if wait > 0 and (self.synced is not None or version is not None):
            params["wait"] = f"{wait:.3f}"
        if version is not None:
            params["version"] = str(version)
        timeout = httpx.Timeout(self.timeout, read=wait + self.timeout)
        return httpx.Request("GET", f"{self.url}/control", headers=headers, params=params,
                             extensions={"timeout": timeout.as_dict()})

    def record(self, outcome: Outcome) -> bool:
        """Take in a poll's outcome; whether the server answered it (200 or 304)."""
        if isinstance(outcome, httpx.Response) and outcome.status_code in (200, 304):
            etag, synced = outcome.headers.get("ETag", ""), self.synced
            if outcome.status_code == 304 and synced is not None and etag == synced.etag:
                self.synced = replace(synced, at=self.clock())
            elif outcome.status_code == 200:
                try:
                    self.synced = Synced(document=dict(outcome.json()), etag=etag, at=self.clock())
                except (ValueError, TypeError) as exc:
                    outcome = httpx.DecodingError(f"unreadable control document: {exc}")
            if isinstance(outcome, httpx.Response):
                self.failures = 0
                return True
        self.failures += 1
        self.last_error = failure(outcome)
        return False

    def sync(self, *, wait: float, version: int | None = None) -> Flow[bool]:
        """One poll; then sleep the backoff after a failure, or IDLE after a plain poll or a
        long-poll that came back unchanged at once (the server did not hold it)."""
        sent = self.clock()
        outcome = yield self.poll_request(wait=wait, version=version)
        if not self.record(outcome):
            yield backoff(self.failures, cap=min(BACKOFF_CAP, self.max_staleness), jitter=random.random())
            return False
        early = isinstance(outcome, httpx.Response) and outcome.status_code == 304 and self.clock() - sent < wait / 2
        if early or not wait:
            yield min(IDLE, self.max_staleness / 4)
        return True

    def first_sync(self) -> Flow[None]:
        """The sync at start; raises RequestRejected on a 4xx (a bad token will not fix itself)."""
        outcome = yield self.poll_request(wait=0)
        if not self.record(outcome) and isinstance(outcome, httpx.Response) and outcome.status_code < 500:
            raise RequestRejected(self.last_error)

    def follow(self) -> Flow[None]:
        """The background loop: long-poll for ever, backing off after failures."""
        while True:
            yield from self.sync(wait=self.poll_wait)

    def authorize(self, act: Action, *, wait_for_resume: float = 0.0,
                  wait_for_approval: float = 0.0, execute: bool = True) -> Flow[Permit]:
        """Return what may run now; otherwise raise why not.

        When the document is not fresh, or the server does not answer (transport error, 5xx),
        writes raise ControlPlaneUnreachable and reads follow read_policy. While writes are
        paused and `wait_for_resume` seconds last, long-poll for a change and ask again. When a
        human must approve, wait up to `wait_for_approval` seconds for the decision. With
        `execute=False` an approval is only read, not confirmed (a framework's resume step that
        runs the tool later, when it asks again and confirms then)."""
        deadline = self.clock() + wait_for_resume
        while True:
            try:
                self.fresh_document()
            except ControlPlaneUnreachable as exc:
                return self.fail_closed(act, exc)
            outcome = yield httpx.Request("POST", f"{self.url}/actions", headers=self.headers, json=action_body(act),
                                          extensions={"timeout": httpx.Timeout(self.timeout).as_dict()})
            if not isinstance(outcome, httpx.Response) or outcome.status_code >= 500:
                return self.fail_closed(act, f"asking failed: {failure(outcome)}")
            if outcome.status_code != 200:
                raise RequestRejected(failure(outcome))
            try:
                answer = outcome.json()
                refused, left = refusal(answer, action=act.name), deadline - self.clock()
            except (ValueError, AttributeError) as exc:
                return self.fail_closed(act, f"unreadable answer: {exc!r}")
            if refused is None:
                return Permit(args=act.args)
            if isinstance(refused, ApprovalRequired) and refused.approval_id is not None:
                return (yield from self.await_approval(act, answer["approval"], refused, wait=wait_for_approval,
                                                       execute=execute))
            if not isinstance(refused, WritesPaused) or left <= 0:
                raise refused
            yield from self.sync(wait=min(self.poll_wait, left), version=refused.version)

    def fail_closed(self, act: Action, why: object) -> Permit:
        if act.kind != "read" or self.read_policy != "allow":
            raise ControlPlaneUnreachable(f"{act.kind} {act.name!r} refused: {why}")
        return Permit(args=act.args)

    def approval_request(self, approval_id: str, *, wait: float) -> httpx.Request:
        """GET the approval request; with `wait`, long-poll while it is pending."""
        url = f"{self.base_url}/v1/approvals/{quote(approval_id, safe='')}"
        timeout = httpx.Timeout(self.timeout, read=wait + self.timeout)
        return httpx.Request("GET", url, headers=self.headers, params={"wait": f"{wait:.3f}"},
                             extensions={"timeout": timeout.as_dict()})

    def await_approval(self, act: Action, approval: Mapping[str, Any], asked: ApprovalRequired, *,
                       wait: float, execute: bool = True) -> Flow[Permit]:
        """Long-poll the approval request `act` got, for up to `wait` seconds, until it is decided:
        a Permit when approved, else raise (see the module docstring). Any failure to hear the
        decision raises ControlPlaneUnreachable, even for a read: only a human's yes runs it."""
        deadline, waited = self.clock() + wait, False
        unheard = f"{act.kind} {act.name!r} refused: waiting for approval request {asked.approval_id} failed"
        try:
            proposed = approval["args"]["proposed"]
        except (LookupError, TypeError) as exc:
            raise ControlPlaneUnreachable(f"{unheard}: unreadable request {exc!r}") from None
        if approval.get("action") != act.name or proposed != json.loads(json.dumps(dict(act.args))):
            raise RequestRejected(f"idempotency_key {act.idempotency_key!r} already names approval request "
                                  f"{asked.approval_id} for {approval.get('action')} {proposed}; use a new key "
                                  f"for a different action")
        while True:
            try:
                decided = settled(approval, asked=asked)
            except (LookupError, TypeError, AttributeError, ValueError) as exc:
                raise ControlPlaneUnreachable(f"{unheard}: unreadable request {exc!r}") from None
            if isinstance(decided, Refused):
                raise decided
            if decided is not None:
                if waited:
                    self.still_permitted(act, asked)
                if execute and approval.get("args_digest"):  # the server binds the approval to these arguments
                    yield from self.confirm_execution(act, str(asked.approval_id), decided)
                return decided
            left = deadline - self.clock()
            if left <= 0 and wait > 0:
                key = (f"ask again with idempotency_key {act.idempotency_key!r} to pick it up" if act.idempotency_key
                       else "without an idempotency_key, asking again opens a new request")
                raise ApprovalTimeout(action=act.name, mode=asked.mode, version=asked.version,
                                      approval_id=asked.approval_id, reason=f"approval request "
                                      f"{asked.approval_id} is still pending after {wait:g}s; {key}")
            if left <= 0:
                raise asked
            sent, poll = self.clock(), min(left, APPROVAL_POLL)
            outcome = yield self.approval_request(str(asked.approval_id), wait=poll)
            waited = True
            if not isinstance(outcome, httpx.Response) or outcome.status_code >= 500:
                raise ControlPlaneUnreachable(f"{unheard}: {failure(outcome)}")
            if outcome.status_code != 200:
                raise RequestRejected(failure(outcome))
            try:
                approval = dict(outcome.json())
            except (ValueError, TypeError) as exc:
                raise ControlPlaneUnreachable(f"{unheard}: unreadable answer {exc!r}") from None
            if approval.get("status") == "pending" and self.clock() - sent < poll / 2:
                yield min(IDLE, max(deadline - self.clock(), 0.0))  # the server did not hold the long-poll

    def confirm_execution(self, act: Action, approval_id: str, permit: Permit) -> Flow[None]:
        """Tell the server the approved action runs now, with the arguments it will run with:
        the server refuses (and audits) any other arguments than the ones the approval covers."""
        url = f"{self.base_url}/v1/approvals/{quote(approval_id, safe='')}/execute"
        outcome = yield httpx.Request("POST", url, headers=self.headers, json={"args": dict(permit.args)},
                                      extensions={"timeout": httpx.Timeout(self.timeout).as_dict()})
        if not isinstance(outcome, httpx.Response) or outcome.status_code >= 500:
            raise ControlPlaneUnreachable(f"{act.kind} {act.name!r} refused: confirming approval {approval_id} "
                                          f"failed: {failure(outcome)}")
        if outcome.status_code != 200:
            raise RequestRejected(failure(outcome))

    def withdraw(self, approval_id: str) -> Flow[bool]:
        """Cancel the agent's own pending approval request, once nothing waits for its decision (a
        call given up on): True when withdrawn; False when it was decided first, or not heard."""
        url = f"{self.base_url}/v1/approvals/{quote(approval_id, safe='')}/cancel"
        outcome = yield httpx.Request("POST", url, headers=self.headers,
                                      extensions={"timeout": httpx.Timeout(self.timeout).as_dict()})
        return isinstance(outcome, httpx.Response) and outcome.status_code == 200

    def still_permitted(self, act: Action, asked: ApprovalRequired) -> None:
        """Raise unless the fresh document still lets `act` run: a takeover made while a human
        was approving wins over the approval."""
        document = self.fresh_document()
        if document.get("permissions", {}).get(f"{act.kind}_{act.risk}") == "deny":
            mode = str(document.get("mode", ""))
            raise DENIALS.get(mode, Denied)(
                action=act.name, reason=f"approved, but the mode changed to {mode} while waiting", mode=mode,
                version=int(document.get("version") or 0), approval_id=asked.approval_id)

