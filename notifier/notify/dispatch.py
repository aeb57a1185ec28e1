"""Dispatch: claim due outbox rows, check them again, send them, record the outcome.

Create a :class:`Dispatcher` and call :meth:`Dispatcher.run_once` whenever rows may
be due (the scheduler does), or :meth:`Dispatcher.serve` for a stand-alone loop
(``notifier dispatch``) that runs until :meth:`Dispatcher.stop`.

For each claimed row, right before sending:

- a reminder is checked against the event as it is *now* (court dates move): if
  the plan no longer contains it (moved, cancelled, removed, rules changed) it is
  withdrawn, never sent;
- a reminder more than ``[reminders] late_grace`` late, or whose event has
  started, is recorded as ``missed`` (never sent stale); one sent more than
  :data:`LATE_AFTER` after its due time says so in the message. Change alerts are
  never dropped for lateness: a late "hearing moved" alert is still news.

Then it is rendered for its channel (:mod:`notifier.notify.messages`: the channel's
templates and body format; an ``.ics`` attachment where the channel takes one)
and sent. A failure is retried with exponential backoff and
jitter, and dead-lettered after ``[delivery] max_attempts`` or at once when the
error is permanent. Every attempt leaves a :class:`~notifier.store.models.Delivery` row.

Channels never wait for each other: each configured channel has its own *lane*
(one thread at a time, claiming only that channel's rows with the same atomic
claim), plus one lane for rows of channels no longer configured. A slow or
failing Slack webhook delays only Slack. :meth:`Dispatcher.kick` starts every
idle lane without waiting (the engine's way); :meth:`Dispatcher.run_once` runs
them all and waits (tests, ``notifier dispatch --once``).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .. import metrics
from ..config import Settings
from ..errors import DeliveryError
from ..logs import mask
from ..store import Store
from ..store.models import Notification
from ..timeutil import utcnow
from . import digest, dispatch_sql, messages, outbox, outbox_rows, planner
from .delivery import Deliverer, Message, Sender
from .ics_attachment import event_ics
from .lane_health import (
    LaneFailure,
    LaneHealth,
    backoff,
    lease_warning,
    outcome_deadline,
    retryable,
)
from .subscriptions import CHANNEL as SUBSCRIBERS
from .subscriptions.mail import SubscriberMail

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
LATE_AFTER = timedelta(minutes=1)
# A lane whose database work fails waits 0.5 s, 1 s, 2 s, ... (at most the poll
# interval) before trying again.
BACKOFF_FIRST = 0.5


@dataclass
class Stats:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    withdrawn: int = 0
    missed: int = 0
    postponed: int = 0  # handed back to wait (a follow-up waiting for its alert)

    def add(self, other: Stats) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def handled(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


Lane = str | None  # a channel name; None = rows of channels not configured (any more)


class Dispatcher:
    """Sends due outbox rows. Safe to run in several processes at once (atomic claims)."""

    def __init__(self, store: Store, settings: Settings, *, sender: Sender | None = None,
                 clock: Clock = utcnow, batch: int = 20, rng: random.Random | None = None,
                 deliverer: Deliverer | None = None,
                 on_idle: Callable[[], None] | None = None,
                 protected: Callable[[], Iterable[str] | None] | None = None) -> None:
        self.store = store
        self.settings = settings
        # A plain ``sender`` (tests, benchmarks) gets text; the Deliverer gets each
        # channel's format and attachments.
        self.sender = sender
        self.deliverer = deliverer if deliverer is not None or sender is not None \
            else Deliverer(settings.channels)
        self.renderer = messages.Renderer({c.name: settings.resolve(c.templates)
                                           for c in settings.channels if c.templates})
        self.clock = clock
        self.batch = batch
        self.lease = settings.delivery.lease
        if (why := lease_warning(settings)) is not None:
            log.warning("%s", why)
        self.rng = rng or random.Random()
        self.on_idle = on_idle
        # Channels other daemons of a cluster know: the "not configured" lane leaves them.
        self.protected = protected
        self._stop = threading.Event()
        self._named = [c.name for c in settings.channels] or [planner.LOG_CHANNEL]
        # Subscriber emails (``[subscriptions]``) have a lane of their own.
        self.subs = SubscriberMail(store, settings) if settings.subscriptions.enabled \
            and sender is None else None
        if self.subs is not None:
            self._named.append(SUBSCRIBERS)
        self.lanes: list[Lane] = [*self._named, None]
        self._lock = threading.Lock()
        self._busy: set[Lane] = set()
        self._again: set[Lane] = set()
        self._idle = threading.Condition(self._lock)
        self._pool = ThreadPoolExecutor(max_workers=len(self.lanes),
                                        thread_name_prefix="notifier-lane")
        cap = settings.delivery.poll_interval.total_seconds()
        self._paused: dict[str, datetime] = {}  # channel -> its Retry-After, for _send_batch
        self._health = {lane: LaneHealth(lane or "(other)", cap=cap, first=BACKOFF_FIRST)
                        for lane in self.lanes}

    def stop(self) -> None:
        """Take no new rows; rows being sent finish, claimed ones are handed back."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def lane_failures(self) -> list[LaneFailure]:
        """The lanes whose database work is failing now (for ``/healthz``)."""
        return [f for h in self._health.values() if (f := h.state()) is not None]

    # -- lanes -----------------------------------------------------------------
    def kick(self) -> None:
        """Start every idle lane without waiting; a busy lane runs again when done."""
        with self._lock:
            if self.stopping:
                return
            for lane in self.lanes:
                if lane in self._busy:
                    self._again.add(lane)
                else:
                    self._busy.add(lane)
                    self._pool.submit(self._lane_loop, lane)

    def _lane_loop(self, lane: Lane) -> None:
        health = self._health[lane]
        handled = 0
        while True:
            try:
                stats = self._drain(lane)
                health.ok()
                handled += stats.handled
                if stats.handled:
                    log.debug("lane %s: %s", lane or "(other)", stats)
            except Exception as e:
                # Back off on this thread: the lane stays busy, so no tick starts it
                # again meanwhile (a full disk once made lanes fail and re-arm hundreds
                # of times a second). Rows stay queued; claimed ones return at lease end.
                if not self._stop.wait(health.failed(e, "claiming or checking notifications")):
                    continue
            with self._lock:
                if lane in self._again and not self.stopping:
                    self._again.discard(lane)
                    continue
                self._busy.discard(lane)
                others_busy = bool(self._busy)
                self._idle.notify_all()
            break
        # Re-arm only after changing the outbox, or when no lane is left to do it: rows
        # due on a busy (or backing-off) lane would otherwise wake the idle lanes in a loop.
        if self.on_idle is not None and (handled or not others_busy) and not self.stopping:
            try:
                self.on_idle()
            except Exception:  # e.g. the database is briefly unreachable
                log.exception("re-arming the dispatcher failed; the safety tick retries")

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no lane is running; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._busy)

    def run_once(self, max_batches: int = 10_000) -> Stats:
        """Send everything due now on every lane (in parallel) and wait; return counts."""
        stats = Stats()
        futures = [self._pool.submit(self._drain, lane, max_batches) for lane in self.lanes]
        for f in futures:
            stats.add(f.result())
        return stats

    def serve(self, poll: timedelta | None = None) -> None:
        """Dispatch until :meth:`stop`: wake at the next due time, or every ``poll``."""
        poll_s = (poll or self.settings.delivery.poll_interval).total_seconds()
        changed = threading.Event()
        previous = self.on_idle
        self.on_idle = changed.set
        try:
            while not self.stopping:
                changed.clear()
                self.kick()
                with self.store.read() as s:
                    nxt = outbox.next_due(s)
                wait = poll_s if nxt is None else (nxt - self.clock()).total_seconds()
                # Due now but its lane is busy: that lane drains it; wait for a lane.
                changed.wait(min(wait if wait > 0 else poll_s, poll_s))
        finally:
            self.on_idle = previous
            self.wait_idle(self.settings.delivery.lease.total_seconds())

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.subs is not None:
            self.subs.idle()

    def _drain(self, lane: Lane, max_batches: int = 10_000) -> Stats:
        # Each outcome commits before the next send starts (no pipelining): a crash
        # repeats at most the one message in flight per lane. One kept connection
        # (the lane's writer) claims and records; it is returned when the drain ends.
        stats = Stats()
        with self.store.lane_writer() as writer:
            sql = dispatch_sql.for_writer(writer)
            for _ in range(max_batches):
                exclude = self._excluded() if lane is None else ()
                if self.stopping or exclude is None:
                    break
                rows = sql.claim(self.clock(), self.lease, self.batch,
                                 channel=lane, exclude=exclude)
                if not rows:
                    break
                with self.subs.batch(rows) if lane == SUBSCRIBERS and self.subs is not None \
                        else nullcontext():
                    self._send_batch(rows, stats, sql)
        if lane == SUBSCRIBERS and self.subs is not None:
            self.subs.idle()  # its kept SMTP connection served this drain's batches
        return stats

    def _excluded(self) -> list[str] | None:
        """The channels the "not configured" lane must not claim (None: claim none)."""
        if self.protected is None:
            return self._named
        others = self.protected()
        return None if others is None else sorted({*self._named, *others})

    def _send_batch(self, rows: list[Notification], stats: Stats, sql: dispatch_sql.Lane) -> None:
        # One claim gives every row of a batch the same lease end (``held``). Once half
        # of it is spent (slow sends), the rows still to send get a fresh lease before
        # the next send, so no row is sent after its lease could have run out and
        # another dispatcher process could have claimed it as well; a row that was
        # claimed elsewhere meanwhile is skipped. Every update and hand-back matches
        # ``held``, so it never touches a row another dispatcher holds now.
        held = rows[0].claimed_until
        assert held is not None  # set by the claim
        ours: set[int] | None = None  # None: all of them
        def left(i: int) -> list[int]:  # the rows from i on that are still this lane's
            return [r.id for r in rows[i:] if r.id is not None and (ours is None or r.id in ours)]

        for i, row in enumerate(rows):
            if self.stopping:
                with self.store.write() as s:
                    outbox.release(s, left(i), self.clock(), held=held)
                return
            now = self.clock()
            if now > held - self.lease / 2:
                with self.store.write() as s:
                    ours = outbox.renew(s, left(i), held, now + self.lease, now)
                held = now + self.lease
            if ours is not None and row.id not in ours:
                log.warning("notification %s was claimed by another dispatcher while its "
                            "lease ran out; not sending it here", row.id)
                continue
            self._handle(row, stats, sql, held)
            if (until := self._paused.pop(row.channel, None)) is not None:
                # Rate limited (429 Retry-After): the channel's other rows wait as well.
                with self.store.write() as s:
                    outbox.defer(s, row.channel, left(i + 1), until, self.clock(), held=held)
                return

    def _handle(self, n: Notification, stats: Stats, sql: dispatch_sql.Lane,
                held: datetime) -> None:
        """Check, send and record one row claimed until ``held``; count its outcome."""
        outcome = self._process(n, held, sql)
        setattr(stats, outcome, getattr(stats, outcome) + 1)

    # -- one row -----------------------------------------------------------------
    def _check(self, n: Notification, now: datetime,
               sql: dispatch_sql.Lane) -> tuple[str | None, str | None, dict[str, Any]]:
        """(final status, POSTPONED (until extra["until"]) or None to send, reason, extra)."""
        if n.channel == SUBSCRIBERS and self.subs is not None:
            return self.subs.check(n, now)
        if n.type == "digest":
            return self._check_digest(n, now)
        if n.event_uid is None:
            return None, None, {}
        found = sql.event_now(n.event_uid, now)
        if found is None:
            return ("withdrawn", "the event no longer exists", {}) \
                if n.type == "reminder" else (None, None, {})
        ev, case = found.event, found.case
        tz = ZoneInfo(case.timezone)
        nxt = planner.next_of_case(found.upcoming(), tz, now)
        when = planner.when_of(ev)
        start = planner.start_instant(when, tz)
        extra: dict[str, Any] = {
            "event": planner.event_snapshot(ev, case),
            "until": messages.until_text(start, now, date_only=ev.start_utc is None, tz=tz),
            "case_next": nxt}
        if self.deliverer is not None and self.deliverer.wants_ics(n.channel) and \
                ev.removed_at is None:
            extra["ics"] = event_ics(ev, case, self.settings)
        if n.type != "reminder":
            return None, None, extra
        if n.dedupe_key not in outbox.desired_reminders(ev, case, self.settings):
            return "withdrawn", "the event moved, was cancelled or removed, or the " \
                                "reminder rules changed since it was planned", extra
        if start is not None and start <= now:
            return "missed", "not sent: the event had already started", extra
        grace = self.settings.reminders.late_grace
        if now - n.due_at > grace:
            return "missed", f"not sent: more than {grace} late (late_grace)", extra
        return None, None, extra

    def _check_digest(self, n: Notification, now: datetime) -> tuple[str | None, str | None,
                                                                     dict[str, Any]]:
        ch = next((c for c in self.settings.channels if c.name == n.channel), None)
        if ch is None:
            return None, None, {}  # delivery reports the channel as not configured
        grace = self.settings.reminders.late_grace
        if now - n.due_at > grace:
            return "missed", f"not sent: more than {grace} late (late_grace)", {}
        with self.store.read() as s:
            extra = digest.agenda(s, ch, digest.payload_day(n.payload))
        if not extra["agenda_count"]:
            return "withdrawn", "nothing on the agenda", extra
        return None, None, extra

    def _message(self, n: Notification, extra: dict[str, Any], now: datetime,
                 late: bool) -> Message:
        if n.channel == SUBSCRIBERS and self.subs is not None:
            return self.subs.message(n, extra, now, late)
        ics = extra.pop("ics", None)
        fmt = self.deliverer.format_for(n.channel) if self.deliverer is not None else "text"
        ctx = messages.context(n.type, json.loads(n.payload), due=n.due_at, now=now, late=late,
                               urgent=n.urgent, extra=extra, channel=n.channel,
                               base_url=self.settings.server.base_url, settings=self.settings)
        title, body = self.renderer.render(n.channel, n.type, ctx, fmt)
        return Message(title, body, fmt, n.urgent,
                       (("event.ics", ics, "text/calendar"),) if ics else ())

    def _send(self, n: Notification, msg: Message) -> None:
        if n.channel == SUBSCRIBERS and self.subs is not None:
            self.subs.deliver(msg)
        elif self.deliverer is not None:
            self.deliverer.deliver(n.channel, msg)
        else:
            assert self.sender is not None
            self.sender(n.channel, msg.title, msg.body, urgent=msg.urgent)

    def process(self, n: Notification) -> Stats:
        """Check, send and record one row already claimed (``status='sending'``)."""
        stats = Stats()
        assert n.claimed_until is not None, "process() takes a claimed row"
        with self.store.lane_writer() as writer:
            self._handle(n, stats, dispatch_sql.for_writer(writer), n.claimed_until)
        self._paused.pop(n.channel, None)  # one row: no batch to hold back
        return stats

    def _process(self, n: Notification, held: datetime, sql: dispatch_sql.Lane) -> str:
        """Check, send and record ``n``; return the Stats field its outcome counts as."""
        now = self.clock()
        final, reason, extra = self._check(n, now, sql)
        if final == outbox_rows.POSTPONED:  # not yet: waits, the attempt not counted
            with self.store.write() as s:
                outbox_rows.postpone(s, n, extra["until"], now, held=held, reason=str(reason))
        elif final is not None:
            self._finish(sql, n, now, final, held=held, error=reason, outcome=final)
            metrics.record_notification(n.type, final)
        if final is not None:
            log.info("notification %s %s: %s", n.id, final, reason)
            return final
        late = now - n.due_at > LATE_AFTER
        error: DeliveryError | None = None
        t0 = time.perf_counter()
        try:
            self._send(n, self._message(n, extra, now, late))
        except DeliveryError as e:
            error = e
        except Exception as e:  # a bug in a sender must not stop the dispatcher
            log.exception("unexpected error sending notification %s", n.id)
            error = DeliveryError(mask(f"{type(e).__name__}: {e}"))
        ms = int((time.perf_counter() - t0) * 1000)
        return self._record(sql, n, held, error, self.clock(), ms, late)

    def _record(self, sql: dispatch_sql.Lane, n: Notification, held: datetime,
                error: DeliveryError | None, done: datetime, ms: int, late: bool) -> str:
        """Commit the outcome of one send; returns the Stats field it counts as."""
        if error is None:
            self._finish(sql, n, done, "sent", held=held, late=late, duration_ms=ms)
            metrics.record_notification(n.type, "sent", channel=n.channel,
                                        duration_s=ms / 1000,
                                        lateness_s=(done - n.due_at).total_seconds())
            return "sent"
        text = mask(str(error))
        if error.permanent or n.attempts >= self.settings.delivery.max_attempts:
            why = "permanent: " if error.permanent else ""
            self._finish(sql, n, done, "dead", held=held, error=why + text, duration_ms=ms)
            if n.channel == SUBSCRIBERS and self.subs is not None and error.permanent:
                self.subs.failed(n, error, done)  # e.g. a bounced address
            metrics.record_notification(n.type, "dead", channel=n.channel,
                                        duration_s=ms / 1000)
            log.warning("notification %s dead after %d attempt(s): %s", n.id, n.attempts,
                        text)
            return "dead"
        retry = done + backoff(n.attempts, self.settings.delivery, self.rng)
        if error.retry_after:
            # No attempt on the channel before the time it asked for (at most the
            # longest backoff: a server asking for a month is not waited on that long).
            cap = self.settings.delivery.backoff_max.total_seconds()
            until = done + timedelta(seconds=min(error.retry_after, cap))
            retry = max(retry, until)
            self._paused[n.channel] = until
        self._finish(sql, n, done, "failed", held=held, error=text, retry_at=retry,
                     outcome="retry", duration_ms=ms)
        metrics.record_notification(n.type, "failed", channel=n.channel, duration_s=ms / 1000)
        log.info("notification %s failed (attempt %d), retry at %s: %s", n.id, n.attempts,
                 retry.isoformat(), text)
        return "failed"

    def _finish(self, sql: dispatch_sql.Lane, n: Notification, done: datetime, status: str,
                **kw: Any) -> None:
        """Record an outcome; while the database fails, keep trying with the lane's backoff.

        The send has happened: a row left ``sending`` would be sent again once its
        lease ran out. So a failed write (a lock, a full disk, a PostgreSQL restart) is
        retried, holding the lane, until it lands; once stopping, until the lease is
        nearly spent (:func:`outcome_deadline`). One that lands after the lease was lost
        is recorded as a possible repeat."""
        health = self._health[n.channel if n.channel in self._named else None]
        held = kw.get("held") or n.claimed_until or done
        failed = False
        while True:
            try:
                # A failed try may have committed all the same (an error during COMMIT).
                ok = True if failed and self._recorded(n, done) else \
                    sql.finish(n, done, status, **kw)
                break
            except Exception as e:
                if not retryable(e):
                    raise
                failed = True
                delay = health.failed(e, f"recording the outcome of notification {n.id}")
                if self.stopping:
                    left = (outcome_deadline(held, self.lease) - self.clock()).total_seconds()
                    if left <= 0:
                        raise
                    time.sleep(min(delay, 1.0, left))
                else:
                    self._stop.wait(delay)
        health.ok()
        if not ok:
            log.warning("notification %s: its lease ran out during the send and another "
                        "dispatcher claimed it; it may be delivered twice (recorded as a "
                        "possible repeat)", n.id)

    def _recorded(self, n: Notification, done: datetime) -> bool:
        """Whether the outcome of the attempt that ended at ``done`` is stored already."""
        with self.store.read() as s:
            return outbox.delivery_at(s, n.id or 0, done)

