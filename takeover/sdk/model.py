"""What the core works with: the steps and outcomes of its flows, the document's status, an action,
the variant it runs under, a permit."""

from __future__ import annotations

import enum
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx

T = TypeVar("T")
Kind = Literal["read", "write"]
Risk = Literal["low", "high"]
ReadPolicy = Literal["allow", "deny"]
VariantName = Literal["stable", "canary"]
Step = httpx.Request | float  # send this request, or sleep this many seconds
Outcome = httpx.Response | httpx.HTTPError | None  # what sending gave; None after a sleep
Flow = Generator[Step, Outcome, T]


class Status(enum.StrEnum):
    """How far the cached control document can be trusted; only `fresh` lets a write be asked."""

    fresh = "fresh"  # a 200 or 304 arrived within max_staleness
    stale = "stale"  # older than max_staleness, and no attempt since has failed (one is in flight)
    unreachable = "unreachable"  # never synced, or older than max_staleness and the last attempt failed


@dataclass(frozen=True)
class Variant:
    """The version of the agent one key runs: the release's stable one or its canary.

    `descriptor` is the version's entry in the release without "version" (model, prompt, ...);
    `version` and `release` are None when the agent has no release."""

    name: VariantName
    version: str | None
    descriptor: Mapping[str, Any] = field(hash=False)  # a dict: left out of the hash, not of ==
    release: int | None


@dataclass(frozen=True)
class Action:
    """What the agent asks to do: the body of `POST /v1/agents/{agent}/actions`."""

    name: str
    kind: Kind = "write"
    risk: Risk = "low"
    args: Mapping[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    variant: Variant | None = None  # sent, and audited by the server, when it belongs to a release


@dataclass(frozen=True)
class Permit:
    """What a guard lets run; `with client.guard(...) as permit:` gives it.

    `args` are the arguments to run with: the effective ones when a human approved (the proposed
    arguments with the approver's edits on top), else the action's own."""

    args: Mapping[str, Any]
    edits: Mapping[str, Any] = field(default_factory=dict)  # the arguments the approver changed
    approval_id: str | None = None
    decided_by: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class Synced:
    document: dict[str, Any]
    etag: str
    at: float  # clock() when the last 200 or 304 for this document arrived
