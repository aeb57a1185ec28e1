"""A dispatch lane's failing state: how long to back off, what to log, what /healthz says.

The dispatcher keeps one :class:`LaneHealth` per lane. Call :meth:`LaneHealth.failed`
with the exception each time the lane's work (a claim, a re-read, a recorded outcome)
fails: it returns how long to wait before trying again (exponential from ``first``,
capped at ``cap``) and logs the first failure of a streak with its reason, then at
most one summary per ``summary_every``. Call :meth:`LaneHealth.ok` after work that
succeeded: it logs the recovery once. :meth:`LaneHealth.state` is the snapshot
``/healthz`` reports: since when, how many failures in a row, and a reason *class*
(``disk_full``, ``database_locked``, ...), never the error text, which may carry a
path or a host.

The lane's retry rules live here too: :func:`backoff` (the wait before a failed
message's next attempt), :func:`outcome_deadline` and :func:`lease_warning`.

Without this, a full disk made every lane fail, re-arm and fail again at once: hundreds
of tracebacks a second.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError, SQLAlchemyError

from ..config import DeliverySettings, Settings
from ..logs import mask
from ..timeutil import utcnow

log = logging.getLogger("notifier.notify.dispatch")
# A lane that failed this many times in a row is reported as failing by /healthz (one
# failure is often a lock held a little too long by another process).
PERSISTENT = 3
DB_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, SQLAlchemyError)

# (reason class, words in the driver's message). SQLite's messages are fixed texts
# (sqlite3_errstr); PostgreSQL's SQLSTATE class 53 is "insufficient resources".
_REASONS = (
    ("disk_full", ("database or disk is full", "no space left on device", "disk full",
                   "could not extend file")),
    ("database_locked", ("database is locked", "database table is locked",
                         "lock timeout", "deadlock detected")),
    ("database_readonly", ("readonly database", "read-only", "read only")),
    ("database_corrupt", ("malformed", "not a database", "corrupt")),
    ("database_unreachable", ("unable to open database", "disk i/o error",
                              "connection", "server closed", "could not connect",
                              "terminating")),
)


def reason_class(exc: BaseException) -> str:
    """A short, secret-free name for why database work failed."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    if getattr(orig, "sqlstate", None) == "53100":  # PostgreSQL disk_full
        return "disk_full"
    if not isinstance(exc, DB_ERRORS):
        return "error"
    text = str(orig).lower()
    for name, words in _REASONS:
        if any(w in text for w in words):
            return name
    return "database_error"


def retryable(exc: BaseException) -> bool:
    """Whether trying the same database work again later may succeed (a lock, a full
    disk, a lost connection), unlike a constraint or SQL error (a bug)."""
    return isinstance(exc, DB_ERRORS) and not isinstance(
        exc, (IntegrityError, ProgrammingError, sqlite3.IntegrityError,
              sqlite3.ProgrammingError, sqlite3.InterfaceError))


def _first_line(exc: BaseException) -> str:
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(orig).strip().splitlines()
    return mask(f"{type(orig).__name__}: {lines[0] if lines else ''}")


def outcome_deadline(held: datetime, lease: timedelta) -> datetime:
    """Until when a dispatcher that is stopping keeps trying to record an outcome: the
    lease held, less a margin (a tenth of the lease, at most 5 s) so that the write
    does not race another dispatcher's claim of the row."""
    return held - min(lease / 10, timedelta(seconds=5))


@dataclass(frozen=True)
class LaneFailure:
    """A failing lane, as /healthz shows it (nothing secret)."""

    lane: str
    since: datetime
    failures: int
    reason: str

    @property
    def persistent(self) -> bool:
        return self.failures >= PERSISTENT


class LaneHealth:
    """Failure streak of one lane; thread-safe (a lane's thread writes, /healthz reads)."""

    def __init__(self, lane: str, *, cap: float, first: float = 0.5,
                 summary_every: float = 60.0, clock: Callable[[], datetime] = utcnow,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.lane = lane
        self.cap = max(cap, first)
        self.first = first
        self.summary_every = summary_every
        self._clock = clock
        self._mono = monotonic
        self._lock = threading.Lock()
        self._failures = 0
        self._since: datetime | None = None
        self._reason = ""
        self._last_log = 0.0
        self._unreported = 0

    def failed(self, exc: BaseException, doing: str) -> float:
        """Count a failure of ``doing``; return the seconds to wait before trying again."""
        reason = reason_class(exc)
        with self._lock:
            self._failures += 1
            self._unreported += 1
            n = self._failures
            delay = min(self.first * 2 ** (n - 1), self.cap)
            now = self._mono()
            if n == 1:
                self._since, self._reason = self._clock(), reason
                self._last_log, self._unreported = now, 0
                first = True
            elif now - self._last_log >= self.summary_every:
                self._reason = reason
                self._last_log, unreported, self._unreported = now, self._unreported, 0
                first = False
            else:
                self._reason = reason
                return delay
        if first:
            # A traceback only for what is not a known database condition (a bug).
            log.log(logging.ERROR if reason == "error" else logging.WARNING,
                    "dispatch lane %s: %s failed (%s: %s); nothing is lost, trying again in "
                    "%gs (backing off up to %gs)", self.lane, doing, reason, _first_line(exc),
                    delay, self.cap, exc_info=reason == "error")
        else:
            assert self._since is not None
            log.warning("dispatch lane %s still failing since %s: %d failures in a row "
                        "(%d since the last report), now %s failed (%s: %s); next try in %gs",
                        self.lane, self._since.isoformat(timespec="seconds"), n, unreported,
                        doing, reason, _first_line(exc), delay)
        return delay

    def ok(self) -> None:
        """The lane's database work succeeded: end a failure streak (logged once)."""
        with self._lock:
            if not self._failures:
                return
            n, since, reason = self._failures, self._since, self._reason
            self._failures, self._since, self._unreported = 0, None, 0
        assert since is not None
        log.info("dispatch lane %s recovered after %d failure(s) (%s) since %s", self.lane, n,
                 reason, since.isoformat(timespec="seconds"))

    def state(self) -> LaneFailure | None:
        """The current failure streak, or None while the lane works."""
        with self._lock:
            if not self._failures or self._since is None:
                return None
            return LaneFailure(self.lane, self._since, self._failures, self._reason)


def backoff(attempts: int, cfg: DeliverySettings, rng: random.Random) -> timedelta:
    """Wait before attempt ``attempts + 1``: doubling from ``backoff``, capped, jittered."""
    base = min(cfg.backoff * (2 ** max(attempts - 1, 0)), cfg.backoff_max)
    return base * rng.uniform(0.5, 1.0)


def lease_warning(settings: Settings) -> str | None:
    """Why ``[delivery] lease`` is short for the channels' timeouts, or None.

    A send starts with at least half a lease left (see ``Dispatcher._send_batch``);
    a send may take a connect plus an answer, each up to the channel's ``timeout``.
    A shorter lease is allowed (one dispatcher process is safe with any), but a
    second dispatcher process could then claim and send a row whose send is slow.
    """
    slow = max(settings.channels, key=lambda c: c.timeout, default=None)
    if slow is None or settings.delivery.lease >= 4 * slow.timeout:
        return None
    return (f"[delivery] lease ({settings.delivery.lease}) is shorter than 4 x the timeout of "
            f"channel {slow.name!r} ({slow.timeout}): with a second dispatcher process, a "
            "send that slow could outlive its lease and be sent again by the other")
