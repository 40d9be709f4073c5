"""The audit chain's verification, kept incremental: the verified prefix is remembered, so a view
checks only the rows appended since (and that the prefix's last row still carries its hash); a
full walk — on a schedule, or when a person asks — still finds a change to any row verified
before."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlmodel import Session

from takeover import store
from takeover.store.models import AuditRow

FULL_EVERY = 3600.0  # seconds between scheduled walks of the whole chain


@dataclass
class AuditCheck:
    mark: store.AuditMark = field(default_factory=store.AuditMark)
    full_at: float | None = None  # when the whole chain was last walked
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def verify(self, session: Session, *, now: float, full: bool = False) -> tuple[int, AuditRow | None]:
        """(rows verified, the first broken row or None), from the remembered prefix or, with
        `full`, from the first row."""
        with self._lock:
            start = store.AuditMark() if full else self.mark
            checked, broken, mark = store.verify_audit_from(session=session, mark=start)
            self.mark = mark
            if full or not start.last_id:
                self.full_at = now
            return checked, broken
