"""Delivery of the outbox to Slack, fenced by the leader's term: a pipeline of small stages,
as Alertmanager's notify/ is built.

    chains      rows grouped by channel, oldest first: a channel gets its messages in the
                order of the changes (an agent's, a thread's, the parts of one change), and one
                channel that Slack holds up or rate-limits delays no other channel
    claim       the row claimed for the term in a fenced transaction; a claim that never ended
                is in doubt (the post may have landed): the channel is searched once for it
    render+fit  the payload within Block Kit's limits (`fit`), cut text linked to the console
    send        post or update; before every call the leader is asked (`leading`) and an open
                Retry-After on that method (and channel) holds the chain without a call
    retry       a failure that may pass later: the row waits a back-off with jitter, at least
                the Retry-After (`retry`); a 429 pauses that method for every worker
    fallback    a permanent failure: plain text, the default channel with the reason, then
                undeliverable — kept, counted, shown (`fallback`)
    record      the outcome in a fenced transaction
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

from slack_sdk.errors import SlackClientError
from sqlmodel import Session

from takeover import store
from takeover.notify import fallback
from takeover.notify.failures import DeliveryError, Failure, Kind, from_exception
from takeover.notify.fit import fit
from takeover.notify.retry import Backoff, RateLimits
from takeover.notify.slack import MARKER, Notifier
from takeover.notify.templates import Message, slack_escape
from takeover.store.models import MessageRow, OutboxRow

log = logging.getLogger(__name__)
LOUD_AFTER = 300.0  # seconds undelivered after which each failure is logged as an error
SUPERSEDED: Message = {
    "text": "♻️ takeover posted this message again after a restart; this copy is no longer updated.",
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text":
                "♻️ _takeover posted this message again after a restart; this copy is no longer "
                "updated and its buttons are gone. Follow the newer message._"}}],
}
def marked(message: Message, key: str) -> Message:
    """The message with its outbox key as Slack metadata, so it can be found after a crash (the
    key, escaped: it may hold an actor's or an agent's text)."""
    return {**message, "metadata": {"event_type": MARKER, "event_payload": {"key": slack_escape(key)}}}


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


def _always() -> bool:
    return True


class _Stop(Exception):
    """The pass ends: this process no longer leads."""


class _Hold(Exception):
    """The chain waits: a Retry-After is open on the method (and channel) it needs next."""


Outcome = Literal["sent", "failed", "undeliverable", "wait"]


@dataclass
class _Attempt:
    """What one row's delivery did, for the record stage."""

    new: tuple[str, str] | None = None  # (channel id, ts) posted or adopted
    orphan_check: float | None = None
    failure: Failure | None = None  # the failure that ended the attempt
    stage: str | None = None  # the fallback stage it reached
    undeliverable: str | None = None  # why nothing is left to try
    in_doubt: bool = False  # a post may have reached Slack without an answer: look before posting again
    called: bool = False  # some Slack call was made (else the claim is simply given back)
    delivered: bool = False  # posted, updated or adopted
    refused: str = ""  # Slack's error in the owner's channel, said in the default channel


@dataclass
class Delivery:
    """Delivers the outbox as the leader of `term`.

    Each row is claimed for the term (in a fenced transaction) before Slack is called, and its
    outcome recorded in another fenced transaction, so a deposed leader stops before its next
    post and two processes never post the same row. `leading` is asked before every Slack
    call: when it answers False the pass stops. No call sleeps: a wait (back-off, Retry-After)
    is a time before which the row is not tried, so nothing can outlive a term, and the longest
    an old leader's call can still land is one call (`settle`, the notifier's timeout and a
    margin). A row claimed earlier and never finished is *in doubt*: once the earlier call must
    be over (`settle` seconds after its claim, for another term's claim), the channel's history
    is searched for the row's marker — once: found, the message is adopted; not found, it is
    posted and, `settle` seconds later, the history is searched again for a copy that arrived
    late (an orphan), which is edited to say so and loses its buttons.
    """

    sessions: Callable[[], Session]
    notifier: Notifier
    term: int
    settle: float
    clock: Callable[[], float] = time.time
    pool: Executor | None = None
    leading: Callable[[], bool] = _always
    default_channel: str = "#alerts"
    public_url: str | None = None  # TAKEOVER_PUBLIC_URL: cut text links to the console
    backoff: Backoff = field(default_factory=Backoff)
    limits: RateLimits = field(default_factory=RateLimits)  # shared by every pass of the process

    def run(self) -> tuple[int, int]:
        """One pass over the outbox and the orphan checks due; returns (sent, failed)."""
        with self.sessions() as session:
            rows = store.undelivered(session=session)
            orphans = store.orphan_checks_due(session=session, now=self.clock())
        chains: dict[str, list[OutboxRow]] = {}
        for row in rows:
            chains.setdefault(row.channel, []).append(row)
        mapper = self.pool.map if self.pool is not None else map
        outcomes = list(mapper(self._chain, chains.values()))
        for message in orphans:
            if not self.leading():
                break
            self._check_orphans(message)
        return sum(s for s, _ in outcomes), sum(f for _, f in outcomes)

    def _chain(self, rows: list[OutboxRow]) -> tuple[int, int]:
        """One channel's rows in order: a row that has to wait holds the later ones (their order
        is the order of the changes); one kept as undeliverable does not."""
        sent = failed = 0
        for row in rows:
            try:
                outcome = self._row(row)
            except _Stop:
                break
            sent += outcome == "sent"
            failed += outcome in ("failed", "undeliverable")
            if outcome in ("failed", "wait"):
                break
        return sent, failed

    # claim

    def _claim(self, row_id: int) -> tuple[str, OutboxRow | None, MessageRow | None, MessageRow | None, str]:
        now = self.clock()
        with self.sessions() as session:
            store.fence(session=session, term=self.term)
            row = session.get(OutboxRow, row_id)
            if row is None or row.sent_at is not None or row.undeliverable_at is not None:
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
            parent_lost = parent_key is not None and parent is None and _undeliverable(session, str(parent_key))
            channel = store.channel_id(session=session, name=row.channel)
            session.commit()
            claim = "parent_lost" if parent_lost else "in_doubt" if in_doubt else "claimed"
            return claim, row, posted, parent, channel

    def _row(self, queued: OutboxRow) -> Outcome:
        assert queued.id is not None
        if not self.leading():
            raise _Stop
        if queued.next_attempt_at is not None and queued.next_attempt_at > self.clock():
            return "wait"  # backing off: later rows of the channel wait behind it
        claim, row, posted, parent, channel_id = self._claim(queued.id)
        if claim == "sent":
            return "sent"
        if row is None:
            return "wait"
        stage, _, refused = (row.fallback or "").partition(": ")
        attempt = _Attempt(in_doubt=claim == "in_doubt", stage=stage or None, refused=refused)
        if claim == "parent_lost":
            attempt.undeliverable = "the message this one replies to in a thread could not be delivered"
        elif row.payload.get("thread_of") is not None and parent is None:
            return self._record(row, attempt, give_back=True)  # the thread's first message is not posted yet
        else:
            try:
                self._deliver(row, attempt, posted=posted, parent=parent, channel_id=channel_id)
            except _Hold:
                pass
        return self._record(row, attempt)

    # render + fit, send, fallback

    def _deliver(self, row: OutboxRow, attempt: _Attempt, *, posted: MessageRow | None,
                 parent: MessageRow | None, channel_id: str) -> None:
        """Send the row's message as it is, or at the fallback stage it reached, moving on to
        the next stage after each permanent failure until one is delivered or none is left."""
        message = {k: v for k, v in row.payload.items() if k != "thread_of"}
        link = self._link(row.message_key)
        while True:
            try:
                self._send(row, attempt, self._staged(message, row, attempt, link), posted=posted,
                           parent=parent, channel_id=channel_id)
                return
            except DeliveryError as exc:
                failure = exc.failure
            except (SlackClientError, OSError) as exc:  # a notifier that does not classify its errors
                failure = from_exception(exc, method="chat.update" if posted else "chat.postMessage")
            attempt.failure = failure
            if failure.kind is Kind.retry:
                if failure.retry_after is not None:
                    self.limits.pause(failure.method, self._call_channel(row, posted, parent),
                                      until=self.clock() + failure.retry_after)
                return
            target = row.channel if attempt.stage not in (fallback.DEFAULT, fallback.DEFAULT_PLAIN) \
                else self.default_channel
            stage = fallback.next_stage(failure, stage=attempt.stage, channel=target,
                                        default_channel=self.default_channel)
            if attempt.stage is None:
                log.warning("Slack refused outbox row %s (%s): %s", row.id, row.message_key, failure)
            if stage is None:
                attempt.undeliverable = f"Slack refused it: {failure}"
                return
            attempt.stage = stage
            if stage in (fallback.REPOST, fallback.DEFAULT, fallback.DEFAULT_PLAIN):
                posted = None  # a new message: posted, not updated
            if stage == fallback.DEFAULT:
                parent = None  # the default channel does not hold the thread
                attempt.refused = failure.error

    def _staged(self, message: Message, row: OutboxRow, attempt: _Attempt, link: str | None) -> Message:
        """The message for the stage the row is at, within Block Kit's limits."""
        if attempt.stage in (fallback.DEFAULT, fallback.DEFAULT_PLAIN):
            message = fallback.redirected(message, channel=row.channel, error=attempt.refused or "refused")
        if attempt.stage in (fallback.PLAIN, fallback.DEFAULT_PLAIN):
            message = fallback.plain(message, link=link)
        fitted, cut = fit(message, link=link)
        if cut:
            log.info("outbox row %s cut to fit Slack's limits: %s", row.id, "; ".join(cut[:3]))
        return fitted

    def _call_channel(self, row: OutboxRow, posted: MessageRow | None, parent: MessageRow | None) -> str:
        if posted is not None:
            return posted.channel
        return parent.channel if parent is not None else row.channel

    def _send(self, row: OutboxRow, attempt: _Attempt, message: Message, *, posted: MessageRow | None,
              parent: MessageRow | None, channel_id: str) -> None:
        """Post (after the in-doubt lookup) or update; each call asked of the leader and the rate
        limits first."""
        if posted is not None and parent is None:
            self._may_call("chat.update", posted.channel, attempt)
            self.notifier.update(channel=posted.channel, ts=posted.ts, message=message)
            attempt.new = (posted.channel, posted.ts) if attempt.stage else None
            attempt.delivered = True
            return
        redirected = attempt.stage in (fallback.DEFAULT, fallback.DEFAULT_PLAIN)
        where = self.default_channel if redirected else parent.channel if parent is not None else row.channel
        thread_ts = parent.ts if parent is not None and not redirected else None
        if attempt.in_doubt:
            self._may_call("conversations.history", where, attempt)
            found = self.notifier.find(channel=parent.channel if parent is not None else channel_id,
                                       key=row.message_key, oldest=row.created_at - 1, thread_ts=thread_ts)
            if found:
                attempt.new = found[-1]  # the first copy posted is the one kept
                for orphan in found[:-1]:
                    self._may_call("chat.update", orphan[0], attempt)
                    self.notifier.update(channel=orphan[0], ts=orphan[1], message=SUPERSEDED)
                log.info("outbox row %s was posted before a crash: adopted %s", row.id, attempt.new[1])
                attempt.in_doubt, attempt.delivered = False, True
                return
            attempt.in_doubt = False  # looked once: not there
            attempt.orphan_check = -1.0  # posted again after a doubt: look for a late copy later
        if thread_ts is not None:
            message = {**message, "thread_ts": thread_ts}
        self._may_call("chat.postMessage", where, attempt)
        try:
            attempt.new = self.notifier.post(channel=where, message=marked(message, row.message_key))
        except DeliveryError as exc:
            attempt.in_doubt = exc.failure.maybe_sent
            raise
        except (SlackClientError, OSError):
            attempt.in_doubt = True
            raise
        attempt.delivered = True
        if attempt.orphan_check is not None and thread_ts is None:
            attempt.orphan_check = self.clock() + self.settle
        else:
            attempt.orphan_check = None

    def _may_call(self, method: str, channel: str, attempt: _Attempt) -> None:
        """Before every Slack call: still the leader, and no Retry-After open on the method."""
        if not self.leading():
            raise _Stop
        if self.limits.open_until(method, channel, now=self.clock()) is not None:
            raise _Hold
        attempt.called = True

    def _link(self, key: str) -> str | None:
        """The console page that shows the full message (TAKEOVER_PUBLIC_URL), for cut text."""
        if not self.public_url:
            return None
        base = self.public_url.rstrip("/")
        kind, _, rest = key.partition(":")
        if kind == "approval":
            return f"{base}/ui/approvals#approval-{quote(rest.split(':')[0], safe='')}"
        if kind == "mode":
            return f"{base}/ui/agents/{quote(rest.rsplit(':', 3)[0], safe='')}"
        return f"{base}/ui/alerts" if kind == "group" else f"{base}/ui/"

    # record

    def _record(self, row: OutboxRow, attempt: _Attempt, *, give_back: bool = False) -> Outcome:
        """The outcome in a fenced transaction (deposed meanwhile: the next leader looks)."""
        now = self.clock()
        with self.sessions() as session:
            store.fence(session=session, term=self.term)
            fresh = session.get(OutboxRow, row.id)
            assert fresh is not None
            if not attempt.in_doubt and (give_back or not attempt.called or attempt.new is None):
                fresh.claim_term, fresh.claimed_at, fresh.claimed_by = None, None, None  # nothing landed
            outcome: Outcome = "wait"
            if attempt.new is not None:
                store.record_post(session=session, key=row.message_key, channel=attempt.new[0], ts=attempt.new[1],
                                  asked_channel=row.channel if row.payload.get("thread_of") is None
                                  and attempt.stage not in (fallback.DEFAULT, fallback.DEFAULT_PLAIN)
                                  else attempt.new[0], orphan_check_at=attempt.orphan_check)
            if attempt.undeliverable is not None:
                store.mark_undeliverable(session=session, row=fresh, reason=attempt.undeliverable, now=now)
                log.error("outbox row %s (%s) is undeliverable: %s", fresh.id, fresh.message_key, attempt.undeliverable)
                outcome = "undeliverable"
            elif attempt.delivered:
                fresh.sent_at, fresh.next_attempt_at, fresh.fallback = now, None, _stage(attempt)
                if attempt.stage is not None and attempt.failure is not None:
                    fresh.last_error = f"delivered as {attempt.stage}: {attempt.failure}"[:500]
                outcome = "sent"
            elif attempt.failure is not None:
                fresh.attempts += 1
                fresh.fallback = _stage(attempt)
                fresh.last_error = str(attempt.failure)[:500]
                fresh.next_attempt_at = now + self.backoff.delay(fresh.attempts, retry_after=attempt.failure.retry_after)
                age = now - fresh.created_at
                level = logging.ERROR if age > LOUD_AFTER else logging.WARNING
                log.log(level, "slack delivery of outbox row %s failed (attempt %d, undelivered for %.0fs, "
                        "next in %.1fs): %s", fresh.id, fresh.attempts, age, fresh.next_attempt_at - now,
                        attempt.failure)
                outcome = "failed"
            session.add(fresh)
            session.commit()
        return outcome

    def _check_orphans(self, message: MessageRow) -> None:
        """A message posted again after an in-doubt claim: edit any other copy of it."""
        assert message.orphan_check_at is not None
        now = self.clock()
        if self.limits.open_until("conversations.history", message.channel, now=now) is not None:
            return
        try:
            found = self.notifier.find(channel=message.channel, key=message.key,
                                       oldest=message.orphan_check_at - 3 * self.settle - 60, thread_ts=None)
            for channel, ts in found:
                if ts != message.ts and self.leading():
                    self.notifier.update(channel=channel, ts=ts, message=SUPERSEDED)
                    log.warning("message %s was posted twice after a crash: the orphan %s is marked", message.key, ts)
        except DeliveryError as exc:
            if exc.failure.retry_after is not None:
                self.limits.pause(exc.failure.method, message.channel, until=now + exc.failure.retry_after)
            log.warning("could not look for orphans of message %s: %s", message.key, exc)
            return
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


def _stage(attempt: _Attempt) -> str | None:
    """The fallback column: the stage reached, and the owner's channel's refusal it explains."""
    if attempt.stage is None:
        return None
    return f"{attempt.stage}: {attempt.refused}" if attempt.refused else attempt.stage


def _undeliverable(session: Session, key: str) -> bool:
    """Whether the message `key` was kept as undeliverable (its thread replies have nowhere to go)."""
    from sqlmodel import col, select

    return session.exec(select(OutboxRow.id).where(OutboxRow.message_key == key)
                        .where(col(OutboxRow.undeliverable_at).is_not(None))).first() is not None
