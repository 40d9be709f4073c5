"""Is the hold in effect? Each running instance of an agent (the SDK sends a random instance id
with its polls) either holds the current control document — it has *confirmed* it — or not yet;
one that stopped polling is *silent*. Pure: the caller passes the instances, the version and now."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Instance:
    id: str
    last_poll: float
    version: int  # the document version it held after its last poll
    confirmed: bool  # it holds the current version (or a later one)
    silent: bool  # no poll for longer than silent_after


@dataclass(frozen=True)
class Confirmation:
    version: int
    instances: tuple[Instance, ...]

    @property
    def confirmed(self) -> int:
        return sum(1 for i in self.instances if i.confirmed)

    @property
    def unconfirmed(self) -> tuple[Instance, ...]:
        return tuple(i for i in self.instances if not i.confirmed)

    def summary(self) -> str:
        """`confirmed by 2 of 3 instances; not yet: i-3 (silent)`, or "" with no instance known."""
        if not self.instances:
            return ""
        text = f"confirmed by {self.confirmed} of {len(self.instances)} instance(s)"
        if self.unconfirmed:
            text += "; not yet: " + ", ".join(i.id + (" (silent)" if i.silent else "") for i in self.unconfirmed)
        return text


def confirmation(instances: Iterable[tuple[str, float, int]], *, version: int, now: float,
                 silent_after: float) -> Confirmation:
    """Which of the agent's instances (id, last poll, version held) hold document `version`."""
    return Confirmation(version, tuple(
        Instance(id=i, last_poll=at, version=held, confirmed=held >= version, silent=now - at > silent_after)
        for i, at, held in sorted(instances, key=lambda x: (x[2] >= version, x[1]))))
