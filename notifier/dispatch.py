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

Then it is rendered and sent. A failure is retried with exponential backoff and
jitter, and dead-lettered after ``[delivery] max_attempts`` or at once when the
error is permanent. Every attempt leaves a :class:`~notifier.models.Delivery` row.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from . import messages, metrics, outbox, planner
from .config import DeliverySettings, Settings
from .delivery import Deliverer, Sender
from .errors import DeliveryError
from .models import Case, Event, Notification
from .store import Store
from .timeutil import utcnow

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
LATE_AFTER = timedelta(minutes=1)


@dataclass
class Stats:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    withdrawn: int = 0
    missed: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.dead + self.withdrawn + self.missed


def backoff(attempts: int, cfg: DeliverySettings, rng: random.Random) -> timedelta:
    """Wait before attempt ``attempts + 1``: doubling from ``backoff``, capped, jittered."""
    base = min(cfg.backoff * (2 ** max(attempts - 1, 0)), cfg.backoff_max)
    return base * rng.uniform(0.5, 1.0)


class Dispatcher:
    """Sends due outbox rows. Safe to run in several processes at once (atomic claims)."""

    def __init__(self, store: Store, settings: Settings, *, sender: Sender | None = None,
                 clock: Clock = utcnow, batch: int = 20, rng: random.Random | None = None):
        self.store = store
        self.settings = settings
        self.sender: Sender = sender or Deliverer(settings.channels).send
        self.clock = clock
        self.batch = batch
        self.rng = rng or random.Random()
        self._stop = threading.Event()

    def stop(self) -> None:
        """Take no new rows; the row being sent finishes, claimed ones are handed back."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run_once(self, max_batches: int = 10_000) -> Stats:
        """Send everything due now (bounded by ``max_batches`` claims); return counts."""
        stats = Stats()
        for _ in range(max_batches):
            if self.stopping:
                break
            with self.store.write() as s:
                rows = outbox.claim(s, self.clock(), self.settings.delivery.lease, self.batch)
            if not rows:
                break
            for i, row in enumerate(rows):
                if self.stopping:
                    with self.store.write() as s:
                        outbox.release(s, [r.id for r in rows[i:] if r.id is not None],
                                       self.clock())
                    break
                self._process(row, stats)
        return stats

    def serve(self, poll: timedelta | None = None) -> None:
        """Dispatch until :meth:`stop`: wake at the next due time, or every ``poll``."""
        poll_s = (poll or self.settings.delivery.poll_interval).total_seconds()
        while not self.stopping:
            self.run_once()
            with self.store.read() as s:
                nxt = outbox.next_due(s)
            wait = poll_s if nxt is None else (nxt - self.clock()).total_seconds()
            self._stop.wait(min(max(wait, 0.0), poll_s))

    def _check(self, n: Notification, now: datetime) -> tuple[str | None, str | None,
                                                              dict[str, object] | None]:
        """(final status or None to send, reason, current event snapshot)."""
        if n.event_uid is None:
            return None, None, None
        with self.store.read() as s:
            ev = s.get(Event, n.event_uid)
            case = s.get(Case, ev.case_id) if ev else None
        if ev is None or case is None:
            return ("withdrawn", "the event no longer exists", None) \
                if n.type == "reminder" else (None, None, None)
        snap = planner.event_snapshot(ev, case)
        if n.type != "reminder":
            return None, None, snap
        if n.dedupe_key not in outbox.desired_reminders(ev, case, self.settings):
            return "withdrawn", "the event moved, was cancelled or removed, or the " \
                                "reminder rules changed since it was planned", snap
        start = planner.start_instant(planner.when_of(ev), ZoneInfo(case.timezone))
        if start is not None and start <= now:
            return "missed", "not sent: the event had already started", snap
        grace = self.settings.reminders.late_grace
        if now - n.due_at > grace:
            return "missed", f"not sent: more than {grace} late (late_grace)", snap
        return None, None, snap

    def _process(self, n: Notification, stats: Stats) -> None:
        now = self.clock()
        final, reason, snap = self._check(n, now)
        if final is not None:
            with self.store.write() as s:
                outbox.finish(s, n, now, final, error=reason, outcome=final)
            setattr(stats, final, getattr(stats, final) + 1)
            metrics.record_notification(n.type, final)
            log.info("notification %s %s: %s", n.id, final, reason)
            return
        late = now - n.due_at > LATE_AFTER
        title, body = messages.render(n.type, json.loads(n.payload), due=n.due_at, late=late,
                                      urgent=n.urgent, event=snap)
        error: DeliveryError | None = None
        t0 = time.perf_counter()
        try:
            self.sender(n.channel, title, body, urgent=n.urgent)
        except DeliveryError as e:
            error = e
        except Exception as e:  # a bug in a sender must not stop the dispatcher
            log.exception("unexpected error sending notification %s", n.id)
            error = DeliveryError(f"{type(e).__name__}: {e}")
        ms = int((time.perf_counter() - t0) * 1000)
        done = self.clock()
        with self.store.write() as s:
            if error is None:
                outbox.finish(s, n, done, "sent", late=late, duration_ms=ms)
                stats.sent += 1
                metrics.record_notification(n.type, "sent", channel=n.channel,
                                            duration_s=ms / 1000,
                                            lateness_s=(done - n.due_at).total_seconds())
            elif error.permanent or n.attempts >= self.settings.delivery.max_attempts:
                outbox.finish(s, n, done, "dead", error=str(error), duration_ms=ms)
                stats.dead += 1
                metrics.record_notification(n.type, "dead", channel=n.channel,
                                            duration_s=ms / 1000)
                log.warning("notification %s dead after %d attempt(s): %s", n.id,
                            n.attempts, error)
            else:
                retry = done + backoff(n.attempts, self.settings.delivery, self.rng)
                outbox.finish(s, n, done, "failed", error=str(error), retry_at=retry,
                              outcome="retry", duration_ms=ms)
                stats.failed += 1
                metrics.record_notification(n.type, "failed", channel=n.channel,
                                            duration_s=ms / 1000)
                log.info("notification %s failed (attempt %d), retry at %s: %s", n.id,
                         n.attempts, retry.isoformat(), error)
