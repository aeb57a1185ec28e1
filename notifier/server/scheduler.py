"""The ticker: APScheduler 3.x wakes things up; the outbox decides what is sent.

Create an :class:`Engine` with the store and settings, call :meth:`Engine.start`,
and :meth:`Engine.shutdown` on SIGTERM. The engine:

- re-plans every upcoming event's reminders at start (rows that fell due while
  the daemon was down are then sent late or recorded as missed by the
  dispatcher);
- syncs the calendar folders every ``[calendars] sync_interval`` with
  :func:`notifier.notify.outbox.change_hook`, so alerts commit with the changes;
- wakes the dispatcher exactly at the next due time (re-armed whenever the plan
  changes: :meth:`Engine.rearm`) and every ``[delivery] poll_interval`` as a
  safety net for rows written by other processes (``notifier sync``);
- prunes finished rows, purges followers' subscriptions of cases with no date left
  for ``[subscriptions] retention``, and re-plans (moving the ``[reminders] horizon``
  window forward, writing the channels' daily digests and followers' final emails)
  every ``[housekeeping] interval``;
- routes a source's held mass-change notice to the ``operator`` channels;
- checks every ``[database] check_interval`` that the database file is still the
  one opened at start and passes ``PRAGMA quick_check`` (``store.watch``), and
  keeps the last error of every scheduled job that raised (:attr:`Engine.job_failures`),
  both for ``/healthz``.

With several daemons on PostgreSQL (a :class:`~notifier.server.cluster.Cluster`),
sync, source polling, re-planning, digests and housekeeping run only on the leader
(checked before each run); a daemon that becomes leader re-plans, syncs and polls at
once. Dispatch runs on every daemon whose role sends.

A sync pass, or the first fetch of a source, into a database that has never
imported anything is a baseline import: history and reminders, no change alerts.

APScheduler only ticks (in-memory job store, ``coalesce=True``,
``max_instances=1``, ``misfire_grace_time=None``): a lost or skipped tick costs
at most a delay, never a notification, because what must be sent lives in the
outbox. A dispatcher thread fed by a wake-up flag starts the dispatcher's
per-channel lanes (:meth:`Dispatcher.kick`), so a tick that arrives while a lane
is busy is never dropped and a slow channel never holds up the others; each lane
re-arms the wake-up when it goes idle.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import Session, col, select

from .. import metrics
from ..config import Settings
from ..notify import digest, outbox
from ..notify.delivery import Sender
from ..notify.dispatch import Clock, Dispatcher
from ..notify.subscriptions import lifecycle
from ..sources import FetchReport, HoldHook, poll_due_sources
from ..store import Store
from ..store.models import WAITING, Change, Event, Notification
from ..store.watch import DbProblem
from ..timeutil import utcnow
from ..tracking import orphans
from ..tracking.sync import SyncReport, is_empty, sync_calendars
from .cluster import Cluster

log = logging.getLogger(__name__)
_WAKE_JOB = "dispatch-wakeup"
# Sources keep their own next-fetch times; this only decides how often we look.
_SOURCES_TICK_S = 5


@dataclass(frozen=True)
class JobFailure:
    at: datetime
    error: str  # "ExceptionType: message", first line only

    @classmethod
    def of(cls, exc: BaseException, at: datetime) -> JobFailure:
        lines = str(exc).splitlines()
        return cls(at, f"{type(exc).__name__}: {lines[0] if lines else ''}"[:500])


class Engine:
    """Plans, syncs and dispatches on a schedule. One per daemon process."""

    def __init__(self, store: Store, settings: Settings, *, clock: Clock = utcnow,
                 sender: Sender | None = None, sync: bool = True,
                 on_hold: HoldHook | None = None, cluster: Cluster | None = None,
                 dispatch: bool = True) -> None:
        self.on_hold = on_hold if on_hold is not None else outbox.hold_hook(settings)
        self.store = store
        self.settings = settings
        self.clock = clock
        self.sync_enabled = sync
        self.dispatch_enabled = dispatch
        # Several daemons on one database: the singletons run only on the leader.
        self.cluster = cluster
        if cluster is not None:
            cluster.on_elected = self._elected
        protected = cluster.protected if cluster is not None and cluster.shared else None
        self.dispatcher = Dispatcher(store, settings, sender=sender, clock=clock,
                                     on_idle=self._rearm_quietly, protected=protected)
        self.hook = outbox.change_hook(settings, keep=self._foreign)
        self.baseline_hook = outbox.change_hook(settings, alerts=False, keep=self._foreign)
        # Sources whose first fetch is a baseline import (the database was empty).
        self._baseline_sources: set[str] = set()
        self.job_failures: dict[str, JobFailure] = {}
        self.last_tick: datetime | None = None
        self.last_sync: SyncReport | None = None
        self.last_sync_at: datetime | None = None
        self.source_reports: dict[str, FetchReport] = {}
        self.plan_counts: dict[str, int] = {}
        self._scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1,
                                        "misfire_grace_time": None})
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._sync_lock = threading.Lock()
        self._worker: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> None:
        """Re-plan, start the ticker and the dispatcher thread, arm the first wake-up.

        Raises StoreError when the SQLite file fails its integrity check."""
        self.store.check_integrity()
        with self.store.read() as s:
            if is_empty(s):
                self._baseline_sources = {src.key for src in self.settings.sources}
        if self.leads():
            self._replan()
            log.info("plan at start: %s", self.plan_counts)
            with self.store.read() as s:
                kept = orphans.find(s, self.settings)
            if kept:
                log.warning("%s", orphans.describe(kept))
        sch = self._scheduler
        now = datetime.now(UTC)
        if self.sync_enabled:
            sch.add_job(self.sync_now, IntervalTrigger(
                seconds=self.settings.calendars.sync_interval.total_seconds(), timezone=UTC),
                id="sync", next_run_time=now)
        if self.sync_enabled and self.settings.sources:
            sch.add_job(self.poll_sources, IntervalTrigger(seconds=_SOURCES_TICK_S, timezone=UTC),
                        id="sources", next_run_time=now + timedelta(seconds=1))
        sch.add_job(self._safety_tick, IntervalTrigger(
            seconds=self.settings.delivery.poll_interval.total_seconds(), timezone=UTC),
            id="dispatch-safety")
        sch.add_job(self.housekeeping, IntervalTrigger(
            seconds=self.settings.housekeeping.interval.total_seconds(), timezone=UTC),
            id="housekeeping", next_run_time=now + timedelta(minutes=1))
        sch.add_job(self.check_database, IntervalTrigger(
            seconds=self.settings.database.check_interval.total_seconds(), timezone=UTC),
            id="database-check")
        sch.add_listener(self._job_done, EVENT_JOB_ERROR | EVENT_JOB_EXECUTED)
        if self.dispatch_enabled:
            self._worker = threading.Thread(target=self._dispatch_loop,
                                            name="notifier-dispatch", daemon=True)
            self._worker.start()
        sch.start()
        self.rearm()

    def shutdown(self, wait_timeout: float = 10.0) -> bool:
        """Stop taking work, let the send in flight finish, hand claimed rows back.

        Returns False if the dispatcher or a sync was still busy after
        ``wait_timeout`` seconds (its rows are then recovered by lease expiry).
        """
        self._stopping.set()
        self.dispatcher.stop()
        self._wake.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        clean = True
        deadline = time.monotonic() + wait_timeout
        if self._worker is not None:
            self._worker.join(wait_timeout)
            clean = not self._worker.is_alive()
        clean &= self.dispatcher.wait_idle(max(deadline - time.monotonic(), 0.0))
        self.dispatcher.close()
        if self._sync_lock.acquire(timeout=max(wait_timeout, 0.0)):
            self._sync_lock.release()
        else:
            clean = False
        return clean

    @property
    def dispatcher_alive(self) -> bool:
        """Whether the thread that wakes the dispatcher is still there (true where this
        daemon's role runs no dispatch)."""
        if not self.dispatch_enabled:
            return True
        return self._worker is not None and self._worker.is_alive()

    @property
    def running(self) -> bool:
        return self._scheduler.running and not self._stopping.is_set()

    # -- cluster ------------------------------------------------------------------
    def leads(self) -> bool:
        """Whether this daemon runs the cluster-wide singletons now (always with no
        cluster: one daemon per SQLite database)."""
        return self.cluster is None or self.cluster.leads()

    def _foreign(self) -> frozenset[str]:
        """Channels other daemons know and this one does not (never withdrawn here)."""
        if self.cluster is None or not self.cluster.shared:
            return frozenset()
        known = self.cluster.protected()
        if known is None:  # any channel may be a daemon's that is starting: keep them all
            with self.store.read() as s:
                known = frozenset(s.exec(select(Notification.channel).distinct().where(
                    col(Notification.status).in_(WAITING))).all())
        return known - {c.name for c in self.settings.channels}

    def _replan(self) -> None:
        with self.store.write() as s:
            self.plan_counts = outbox.replan_all(s, self.settings, self.clock(),
                                                 keep=self._foreign())
            self.plan_counts["digests"] = digest.plan_digests(s, self.settings, self.clock())

    def _elected(self) -> None:
        """Just became the leader: re-plan, sync and poll now rather than at the next
        interval (the previous leader may have died in the middle of any of them)."""
        if not self._scheduler.running or self._stopping.is_set():
            return  # at start: Engine.start does all of it
        self._scheduler.add_job(self._take_over, id="take-over", replace_existing=True)

    def _take_over(self) -> None:
        self._replan()
        log.info("plan on taking over as leader: %s", self.plan_counts)
        if self.sync_enabled:
            self.sync_now()
            if self.settings.sources:
                self.poll_sources()
        self.rearm()

    # -- jobs --------------------------------------------------------------------
    def _rearm_quietly(self) -> None:
        self.rearm()

    def rearm(self) -> datetime | None:
        """Arm the wake-up at the next due time (call after anything wrote the outbox)."""
        if self._stopping.is_set():
            return None
        with self.store.read() as s:
            nxt = outbox.next_due(s)
        if nxt is None:
            return None
        if nxt <= self.clock():
            self._wake.set()
        elif self._scheduler.running:
            # Real time for the trigger, whatever the injected clock says.
            at = datetime.now(UTC) + (nxt - self.clock())
            self._scheduler.add_job(self._wake.set, DateTrigger(at, timezone=UTC),
                                    id=_WAKE_JOB, replace_existing=True)
        return nxt

    def sync_now(self, verify: bool = False) -> SyncReport:
        """One sync pass with the outbox hook; re-arms when anything changed.

        ``verify`` (SIGHUP) hashes every file, whatever its size and mtime say."""
        with self._sync_lock:
            if self._stopping.is_set() or not self.leads():
                return SyncReport()
            self.last_tick = self.clock()
            t0 = time.perf_counter()
            report = sync_calendars(self.store, self.settings.calendar_folders(),
                                    now=self.clock(), hook=self.hook,
                                    baseline_hook=self.baseline_hook, verify=verify)
            if report.baseline and report.changes:
                log.info("baseline import into an empty database: %d change(s) recorded in "
                         "the history and reminders planned; no change alerts sent",
                         len(report.changes))
            self.last_sync = report
            self.last_sync_at = self.clock()
            metrics.record_sync(time.perf_counter() - t0, [c.kind for c in report.changes],
                                len(report.errors), time.time())
            for err in report.errors:
                log.warning("calendar not synced: %s", err)
            for ch in report.changes:
                log.info("change: %s: %s", ch.event_uid.removesuffix("@notifier"), ch.summary)
        if report.changes:
            self.rearm()
        return report

    def poll_sources(self) -> list[FetchReport]:
        """Fetch the remote sources that are due; changes commit with their alerts."""
        if self._stopping.is_set() or not self.leads():
            return []
        self.last_tick = self.clock()
        hook = self._source_hook if self._baseline_sources else self.hook
        reports = poll_due_sources(self.store, self.settings, self.clock(), hook=hook,
                                   on_hold=self.on_hold)
        for r in reports:
            self.source_reports[r.source] = r
            key = f"source:{r.source}"
            if r.error is None and key in self._baseline_sources:
                self._baseline_sources.discard(key)
                if r.changes:
                    log.info("source %s: baseline import into an empty database: %d "
                             "change(s) recorded, no change alerts sent", r.source,
                             len(r.changes))
            if r.error:
                log.warning("source %s: %s", r.source, r.error)
            for ch in r.changes:
                log.info("change: %s: %s", ch.event_uid, ch.summary)
        if any(r.changes for r in reports):
            self.rearm()
        return reports

    def _source_hook(self, s: Session, changes: list[Change], now: datetime) -> None:
        """The change hook while some sources still have their baseline import to do."""
        quiet: list[Change] = []
        loud: list[Change] = []
        for c in changes:
            ev = s.get(Event, c.event_uid)
            (quiet if ev is not None and ev.source in self._baseline_sources else loud).append(c)
        if quiet:
            self.baseline_hook(s, quiet, now)
        if loud:
            self.hook(s, loud, now)

    def check_database(self) -> list[DbProblem]:
        """Is the database file still the one opened, and intact? Logs what is new."""
        found = [self.store.watch.check_file(), self.store.watch.check_integrity()]
        new = [p for p in found if p is not None]
        for p in new:
            log.error("database problem: %s", p.detail)
        return new

    def _job_done(self, event: JobExecutionEvent) -> None:
        if event.exception is None:
            self.job_failures.pop(event.job_id, None)
            return
        self.job_failures[event.job_id] = JobFailure.of(event.exception, self.clock())

    def housekeeping(self) -> int:
        """Prune old rows and move the planning window forward; returns rows pruned."""
        self.last_tick = self.clock()
        if not self.leads():
            return 0
        with self.store.write() as s:
            n = outbox.prune(s, self.clock(), self.settings.housekeeping.retention)
            gone = lifecycle.purge(s, self.settings, self.clock())
        self._replan()
        if n:
            log.info("pruned %d finished notification(s)", n)
        if gone.subscriptions:
            log.info("purged %d subscription(s) of cases with no date left for %s "
                     "(%d subscriber(s) left with none erased)", gone.subscriptions,
                     self.settings.subscriptions.retention, gone.subscribers)
        self.rearm()
        return n

    def _safety_tick(self) -> None:
        self.last_tick = self.clock()
        self._wake.set()

    def _dispatch_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stopping.is_set():
                break
            self.last_tick = self.clock()
            try:
                self.dispatcher.kick()
                self.job_failures.pop("dispatch", None)
            except Exception as e:  # keep the daemon alive; the safety tick retries
                log.exception("dispatch pass failed")
                self.job_failures["dispatch"] = JobFailure.of(e, self.clock())
