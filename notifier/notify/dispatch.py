"""Dispatch: claim due outbox rows, check them again, send them, record the outcome.

Create a :class:`Dispatcher` and call :meth:`Dispatcher.run_once` whenever rows may
be due (the scheduler does), or :meth:`Dispatcher.serve` for a stand-alone loop
(``notifier dispatch``) that runs until :meth:`Dispatcher.stop`.

This module is the lanes and their claims. Each claimed row is then checked against
the store as it is *now*, rendered and sent by :mod:`.dispatch_row` (a reminder whose
event moved is withdrawn, a stale one ``missed``; one sent more than
:data:`LATE_AFTER` after its due time says so in the message), and its outcome is
recorded by :mod:`.dispatch_outcome` (retries with backoff and jitter, dead letters,
a :class:`~notifier.store.models.Delivery` row for every attempt).

Channels never wait for each other: each configured channel has its own *lane*
(one thread at a time, claiming only that channel's rows with the same atomic
claim), plus one lane for rows of channels no longer configured. A slow or
failing Slack webhook delays only Slack. :meth:`Dispatcher.kick` starts every
idle lane without waiting (the engine's way); :meth:`Dispatcher.run_once` runs
them all and waits (tests, ``notifier dispatch --once``).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from ..config import Settings
from ..errors import DeliveryError
from ..logs import mask
from ..store import Store
from ..store.models import Notification
from ..timeutil import utcnow
from . import dispatch_sql, outbox, planner
from .delivery import Deliverer, Sender
from .dispatch_outcome import Outcomes
from .dispatch_row import RowSender
from .lane_health import LaneFailure, LaneHealth, lease_warning
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
        self._health = {lane: LaneHealth(lane or "(other)", cap=cap, first=BACKOFF_FIRST)
                        for lane in self.lanes}
        self.rows = RowSender(store, settings, sender=sender, deliverer=deliverer,
                              subs=self.subs)
        self.outcomes = Outcomes(store, settings, clock=clock, rng=self.rng, stop=self._stop,
                                 health=self._lane_health, subs=self.subs)

    def stop(self) -> None:
        """Take no new rows; rows being sent finish, claimed ones are handed back."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _lane_health(self, channel: str) -> LaneHealth:
        return self._health[channel if channel in self._named else None]

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
            if (until := self.outcomes.paused.pop(row.channel, None)) is not None:
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
    def process(self, n: Notification) -> Stats:
        """Check, send and record one row already claimed (``status='sending'``)."""
        stats = Stats()
        assert n.claimed_until is not None, "process() takes a claimed row"
        with self.store.lane_writer() as writer:
            self._handle(n, stats, dispatch_sql.for_writer(writer), n.claimed_until)
        self.outcomes.paused.pop(n.channel, None)  # one row: no batch to hold back
        return stats

    def _process(self, n: Notification, held: datetime, sql: dispatch_sql.Lane) -> str:
        """Check, send and record ``n``; return the Stats field its outcome counts as."""
        now = self.clock()
        final, reason, extra = self.rows.check(n, now, sql)
        if final is not None:
            return self.outcomes.not_sent(sql, n, now, final, reason, held,
                                          until=extra.get("until"))
        late = now - n.due_at > LATE_AFTER
        error: DeliveryError | None = None
        t0 = time.perf_counter()
        try:
            self.rows.send(n, self.rows.message(n, extra, now, late))
        except DeliveryError as e:
            error = e
        except Exception as e:  # a bug in a sender must not stop the dispatcher
            log.exception("unexpected error sending notification %s", n.id)
            error = DeliveryError(mask(f"{type(e).__name__}: {e}"))
        ms = int((time.perf_counter() - t0) * 1000)
        return self.outcomes.record(sql, n, held, error, self.clock(), ms, late)
