"""The outcome of one claimed outbox row, recorded: sent, retried later, dead, or not sent.

The :class:`~notifier.notify.dispatch.Dispatcher` holds one :class:`Outcomes` and
calls :meth:`Outcomes.record` after each send (or :meth:`Outcomes.not_sent` for a row
its re-check withdrew or found missed). A failure is retried with exponential backoff
and jitter (:func:`~notifier.notify.lane_health.backoff`), and dead-lettered after
``[delivery] max_attempts`` or at once when the error is permanent (a one-try row,
``notifier channels test``, ends ``withdrawn`` with the outcome ``failed``: neither
retried nor counted as dead or against the channel's health); a channel that
asked to wait (429 Retry-After) is noted in :attr:`Outcomes.paused`, so that the
dispatcher holds back its other rows. Every attempt leaves a
:class:`~notifier.store.models.Delivery` row. Recording keeps trying while the
database fails (:meth:`Outcomes.finish`): the send has happened.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from .. import metrics
from ..config import Settings
from ..errors import DeliveryError
from ..logs import mask
from ..store import Store
from ..store.models import Notification
from . import dispatch_sql, outbox, outbox_rows
from .lane_health import LaneHealth, backoff, outcome_deadline, retryable
from .subscriptions import CHANNEL as SUBSCRIBERS
from .subscriptions.mail import SubscriberMail

# The dispatcher's log, like lane_health's: these lines are its outcomes.
log = logging.getLogger("notifier.notify.dispatch")


class Outcomes:
    """Records what became of claimed rows; each call returns the
    :class:`~notifier.notify.dispatch.Stats` field its outcome counts as."""

    def __init__(self, store: Store, settings: Settings, *, clock: Callable[[], datetime],
                 rng: random.Random, stop: threading.Event,
                 health: Callable[[str], LaneHealth], subs: SubscriberMail | None) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.rng = rng
        self.lease = settings.delivery.lease
        self._stop = stop
        self._health = health  # the lane of a channel
        self.subs = subs
        self.paused: dict[str, datetime] = {}  # channel -> its Retry-After

    def not_sent(self, sql: dispatch_sql.Lane, n: Notification, now: datetime, final: str,
                 reason: str | None, held: datetime, until: datetime | None = None) -> str:
        """Record ``n`` as ``final`` (withdrawn, missed) without a send, or hand it back
        to wait (``POSTPONED``, until ``extra["until"]``: the attempt is not counted);
        returns ``final``."""
        if final == outbox_rows.POSTPONED:
            assert until is not None, "a postponed row says until when"
            with self.store.write() as s:
                outbox_rows.postpone(s, n, until, now, held=held, reason=str(reason))
        else:
            self.finish(sql, n, now, final, held=held, error=reason, outcome=final)
            metrics.record_notification(n.type, final)
        log.info("notification %s %s: %s", n.id, final, reason)
        return final

    def record(self, sql: dispatch_sql.Lane, n: Notification, held: datetime,
               error: DeliveryError | None, done: datetime, ms: int, late: bool) -> str:
        """Commit the outcome of one send; returns the Stats field it counts as."""
        if error is None:
            self.finish(sql, n, done, "sent", held=held, late=late, duration_ms=ms)
            metrics.record_notification(n.type, "sent", channel=n.channel,
                                        duration_s=ms / 1000,
                                        lateness_s=(done - n.due_at).total_seconds())
            return "sent"
        text = mask(str(error))
        if outbox_rows.tried_once(n):  # a test message: no retry, no dead letter
            self.finish(sql, n, done, "withdrawn", held=held, error=text, outcome="failed",
                        duration_ms=ms)
            metrics.record_notification(n.type, "failed", channel=n.channel,
                                        duration_s=ms / 1000)
            log.info("notification %s not delivered (tried once, not retried): %s", n.id,
                     text)
            return "failed"
        if error.permanent or n.attempts >= self.settings.delivery.max_attempts:
            why = "permanent: " if error.permanent else ""
            self.finish(sql, n, done, "dead", held=held, error=why + text, duration_ms=ms)
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
            self.paused[n.channel] = until
        self.finish(sql, n, done, "failed", held=held, error=text, retry_at=retry,
                    outcome="retry", duration_ms=ms)
        metrics.record_notification(n.type, "failed", channel=n.channel, duration_s=ms / 1000)
        log.info("notification %s failed (attempt %d), retry at %s: %s", n.id, n.attempts,
                 retry.isoformat(), text)
        return "failed"

    def finish(self, sql: dispatch_sql.Lane, n: Notification, done: datetime, status: str,
               **kw: Any) -> None:
        """Record an outcome; while the database fails, keep trying with the lane's backoff.

        The send has happened: a row left ``sending`` would be sent again once its
        lease ran out. So a failed write (a lock, a full disk, a PostgreSQL restart) is
        retried, holding the lane, until it lands; once stopping, until the lease is
        nearly spent (:func:`outcome_deadline`). One that lands after the lease was lost
        is recorded as a possible repeat."""
        health = self._health(n.channel)
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
                if self._stop.is_set():
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
