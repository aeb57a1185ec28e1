"""``notifier run --demo``: write the demo calendar, then move one hearing a minute
after its first reminder is due, so a first run shows a reminder and a change alert.

Call :meth:`Demo.reset` and :meth:`Demo.write` before the daemon starts (its first
sync then imports the demo case with everything else) and :meth:`Demo.start` once it
runs; :meth:`Demo.stop` cancels a change not yet made. :meth:`Demo.reset` deletes
what an earlier run left of the demo case (its events, their history, its
notifications and their attempts, the file's sync stamp), without any alert: each run
starts the demo afresh, so its new dates are not "changes" of the last run's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, or_
from sqlmodel import col, select

from ..calendars.demo import DEMO_CASE, DEMO_FILE, demo_calendar
from ..notify import outbox_rows
from ..store import Store
from ..store.models import Case, Change, Event, FeedFragment, Notification
from ..timeutil import format_duration, utcnow
from ..tracking import filestate

log = logging.getLogger(__name__)
CT, ET = Change.__table__, Event.__table__  # type: ignore[attr-defined]
FT, CaseT = FeedFragment.__table__, Case.__table__  # type: ignore[attr-defined]
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def rounded(at: datetime, step: timedelta) -> datetime:
    """``at`` to the nearest multiple of ``step`` (whole minutes in the shipped demo)."""
    return EPOCH + round((at - EPOCH) / step) * step


class Demo:
    """The demo file in ``folder`` (whose label is ``label``): written at start, changed
    ``change_after`` later. Its times are whole ``step``s (minutes): the reminder is
    due ``lead`` after the start, to within half a step."""

    def __init__(self, folder: Path, sync: Callable[[], object], *, label: str = "calendars",
                 lead: timedelta = timedelta(minutes=3),
                 change_after: timedelta = timedelta(minutes=4),
                 step: timedelta = timedelta(minutes=1),
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.path = folder / DEMO_FILE
        self.source = f"{label}/{DEMO_FILE}"  # the source key of its events
        self.sync = sync
        self.lead = lead
        self.change_after = change_after
        self.clock = clock
        self.anchor = rounded(clock(), step)
        self._timer: threading.Timer | None = None

    def reset(self, store: Store) -> None:
        """Delete quietly what an earlier run left of the demo case (only its events
        from the demo file: a case of the user's with the same id keeps its own)."""
        with store.write() as s:
            uids = list(s.exec(select(Event.uid).where(
                Event.case_id == DEMO_CASE, Event.source == self.source)).all())
            if not uids:
                return
            ids = [i for i in s.exec(select(Notification.id).where(or_(
                col(Notification.case_id) == DEMO_CASE, col(Notification.event_uid).in_(uids))))
                .all() if i is not None]
            outbox_rows.delete_rows(s, ids)
            changes = int(getattr(s.execute(delete(CT).where(CT.c.event_uid.in_(uids))),
                                  "rowcount", 0) or 0)
            s.execute(delete(FT).where(FT.c.uid.in_(uids)))
            s.execute(delete(ET).where(ET.c.uid.in_(uids)))
            if not s.exec(select(func.count()).select_from(Event).where(
                    Event.case_id == DEMO_CASE)).one():
                s.execute(delete(CaseT).where(CaseT.c.id == DEMO_CASE))
            filestate.forget(s, [self.source])  # the new file is read as new
        log.info("demo: deleted the previous run's demo case (%d events, %d changes, "
                 "%d notifications) before writing the new one", len(uids), changes, len(ids))

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(demo_calendar(self.anchor, lead=self.lead, changed=False),
                             encoding="utf-8")
        due = self.anchor + self.lead
        left = max(int((due - self.clock()).total_seconds()), 0)
        log.info("demo: wrote %s (dates relative to now); its first reminder is due at "
                 "%s UTC (in %d min %02d s), a hearing moves %s after that", self.path,
                 f"{due:%H:%M:%S}", left // 60, left % 60,
                 format_duration(self.change_after - self.lead))

    def start(self) -> None:
        # From the (rounded) start, so that the move comes as long after the reminder
        # as promised.
        delay = self.anchor + self.change_after - self.clock()
        self._timer = threading.Timer(max(delay.total_seconds(), 0.0), self._change)
        self._timer.name = "demo-change"
        self._timer.daemon = True
        self._timer.start()

    def _change(self) -> None:
        self.path.write_text(demo_calendar(self.anchor, lead=self.lead, changed=True),
                             encoding="utf-8")
        log.info("demo: the court moved the motion hearing (%s); syncing now", self.path)
        self.sync()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
