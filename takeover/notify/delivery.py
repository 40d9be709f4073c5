"""Delivery of the outbox to Slack, fenced by the leader's term (see `Delivery`)."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Literal

from slack_sdk.errors import SlackClientError
from sqlmodel import Session

from takeover import store
from takeover.notify.slack import MARKER, Notifier
from takeover.notify.templates import Message
from takeover.store.models import MessageRow, OutboxRow

log = logging.getLogger(__name__)
LOUD_AFTER = 300.0  # seconds undelivered after which each failure is logged as an error
SUPERSEDED: Message = {
    "text": "♻️ takeover posted this message again after a restart; this copy is no longer updated.",
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text":
                "♻️ _takeover posted this message again after a restart; this copy is no longer "
                "updated and its buttons are gone. Follow the newer message._"}}],
}
Claim = Literal["sent", "wait", "claimed", "in_doubt"]


def marked(message: Message, key: str) -> Message:
    """The message with its outbox key as Slack metadata, so it can be found after a crash."""
    return {**message, "metadata": {"event_type": MARKER, "event_payload": {"key": key}}}


IDENTITY = f"{socket.gethostname()}:{os.getpid()}"


def maybe_alive(identity: str | None) -> bool:
    """False only when `host:pid` names a process of this host that is gone (a crash, a
    restart): its Slack call is over. A process on another host might still be running."""
    host, _, pid = (identity or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


@dataclass
class Delivery:
    """Delivers the outbox as the leader of `term`.

    Each row is claimed for the term (in a fenced transaction) before Slack is called, and its
    outcome recorded in another fenced transaction, so a deposed leader stops before its next
    post and two processes never post the same row. A row claimed earlier and never finished is
    *in doubt*: the post may have reached Slack. Once the earlier call must be over (`settle`
    seconds after its claim, for another term's claim), the channel's history is searched for
    the row's marker: found, the message is adopted; not found, it is posted and, `settle`
    seconds later, the history is searched again for a copy that arrived late (an orphan),
    which is edited to say so and loses its buttons.

    Messages are independent: rows are delivered in order per message (a thread goes with its
    parent), different messages in parallel, so one failing message holds up only itself.
    """

    sessions: Callable[[], Session]
    notifier: Notifier
    term: int
    settle: float
    clock: Callable[[], float] = time.time
    pool: Executor | None = None
    # asked right before each Slack call: whether this process still leads in `term` (a
    # process frozen past its lease, on waking, makes no call before it has renewed it)
    leading: Callable[[], bool] = lambda: True

    def run(self) -> tuple[int, int]:
        """One pass over the outbox and the orphan checks due; returns (sent, failed)."""
        with self.sessions() as session:
            rows = store.undelivered(session=session)
            orphans = store.orphan_checks_due(session=session, now=self.clock())
        chains: dict[str, list[OutboxRow]] = {}
        for row in rows:
            chains.setdefault(row.payload.get("thread_of") or row.message_key, []).append(row)
        mapper = self.pool.map if self.pool is not None else map
        outcomes = list(mapper(self._chain, chains.values()))
        for message in orphans:
            self._check_orphans(message)
        return sum(s for s, _ in outcomes), sum(f for _, f in outcomes)

    def _chain(self, rows: list[OutboxRow]) -> tuple[int, int]:
        sent = 0
        for row in rows:
            outcome = self._row(row)
            if outcome is not True:
                return sent, int(outcome is False)  # later rows of this message wait
            sent += 1
        return sent, 0

    def _claim(self, row_id: int) -> tuple[Claim, OutboxRow | None, MessageRow | None, MessageRow | None, str]:
        now = self.clock()
        with self.sessions() as session:
            store.fence(session=session, term=self.term)
            row = session.get(OutboxRow, row_id)
            if row is None or row.sent_at is not None:
                return "sent", None, None, None, ""
            if row.claim_term not in (None, self.term) and (row.claimed_at or 0) + self.settle > now \
                    and maybe_alive(row.claimed_by):
                return "wait", None, None, None, ""  # another leader's call may still be running
            in_doubt = row.claim_term is not None
            row.claim_term, row.claimed_at, row.claimed_by = self.term, now, IDENTITY
            session.add(row)
            parent_key = row.payload.get("thread_of")
            posted = store.posted_message(session=session, key=row.message_key)
            parent = store.posted_message(session=session, key=parent_key) if parent_key else None
            channel = store.channel_id(session=session, name=row.channel)
            session.commit()
            return ("in_doubt" if in_doubt else "claimed"), row, posted, parent, channel

    def _row(self, queued: OutboxRow) -> bool | None:
        """True when delivered, False when Slack failed, None when it has to wait."""
        assert queued.id is not None
        claim, row, posted, parent, channel_id = self._claim(queued.id)
        if claim == "sent":
            return True
        if row is None:
            return None
        parent_key = row.payload.get("thread_of")
        if parent_key is not None and parent is None:
            return None  # the thread's first message is not posted yet
        new: tuple[str, str] | None = None
        orphan_check = None
        error = None
        if not self.leading():
            return None  # the claim stays; the next leader finds the row in doubt
        try:
            if parent is not None or posted is None:
                message = {k: v for k, v in row.payload.items() if k != "thread_of"}
                where = parent.channel if parent is not None else row.channel
                thread_ts = parent.ts if parent is not None else None
                found = self.notifier.find(channel=parent.channel if parent is not None else channel_id,
                                           key=row.message_key, oldest=row.created_at - 1,
                                           thread_ts=thread_ts) if claim == "in_doubt" else []
                if found:
                    new = found[-1]  # the first copy posted is the one kept
                    for orphan in found[:-1]:
                        self.notifier.update(channel=orphan[0], ts=orphan[1], message=SUPERSEDED)
                    log.info("outbox row %s was posted before a crash: adopted %s", row.id, new[1])
                else:
                    if thread_ts is not None:
                        message["thread_ts"] = thread_ts
                    new = self.notifier.post(channel=where, message=marked(message, row.message_key))
                    if claim == "in_doubt" and thread_ts is None:
                        orphan_check = self.clock() + self.settle
            else:
                assert posted is not None
                self.notifier.update(channel=posted.channel, ts=posted.ts, message=row.payload)
        except (SlackClientError, OSError) as exc:  # retried on a later pass
            error = f"{type(exc).__name__}: {exc}"[:500]
        with self.sessions() as session:
            store.fence(session=session, term=self.term)  # deposed meanwhile: the next leader looks
            fresh = session.get(OutboxRow, row.id)
            assert fresh is not None
            if new is not None:
                store.record_post(session=session, key=row.message_key, channel=new[0], ts=new[1],
                                  asked_channel=row.channel if parent is None else new[0],
                                  orphan_check_at=orphan_check)
            if error is None:
                fresh.sent_at = self.clock()
            else:
                fresh.attempts += 1
                fresh.last_error = error
                age = self.clock() - fresh.created_at
                level = logging.ERROR if age > LOUD_AFTER else logging.WARNING
                log.log(level, "slack delivery of outbox row %s failed (attempt %d, undelivered for %.0fs): %s",
                        fresh.id, fresh.attempts, age, error)
            session.add(fresh)
            session.commit()
        return error is None

    def _check_orphans(self, message: MessageRow) -> None:
        """A message posted again after an in-doubt claim: edit any other copy of it."""
        assert message.orphan_check_at is not None
        if not self.leading():
            return
        try:
            found = self.notifier.find(channel=message.channel, key=message.key,
                                       oldest=message.orphan_check_at - 3 * self.settle - 60, thread_ts=None)
            for channel, ts in found:
                if ts != message.ts:
                    self.notifier.update(channel=channel, ts=ts, message=SUPERSEDED)
                    log.warning("message %s was posted twice after a crash: the orphan %s is marked", message.key, ts)
        except (SlackClientError, OSError) as exc:
            log.warning("could not look for orphans of message %s: %s", message.key, exc)
            return
        with self.sessions() as session:
            store.fence(session=session, term=self.term)
            row = session.get(MessageRow, message.key)
            if row is not None:
                row.orphan_check_at = None
                session.add(row)
            session.commit()
