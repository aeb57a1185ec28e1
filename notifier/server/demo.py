"""``notifier run --demo``: write the demo calendar, then move one hearing a minute
after its first reminder is due, so a first run shows a reminder and a change alert.

Call :meth:`Demo.write` before the daemon starts (its first sync then imports the
demo case with everything else) and :meth:`Demo.start` once it runs; :meth:`Demo.stop`
cancels a change not yet made.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from ..calendars.demo import DEMO_FILE, demo_calendar
from ..timeutil import format_duration, utcnow

log = logging.getLogger(__name__)


class Demo:
    """The demo file in ``folder``: written at start, changed ``change_after`` later."""

    def __init__(self, folder: Path, sync: Callable[[], object], *,
                 lead: timedelta = timedelta(minutes=3),
                 change_after: timedelta = timedelta(minutes=4),
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.path = folder / DEMO_FILE
        self.sync = sync
        self.lead = lead
        self.change_after = change_after
        self.anchor = clock().replace(microsecond=0)
        self._timer: threading.Timer | None = None

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(demo_calendar(self.anchor, lead=self.lead, changed=False),
                             encoding="utf-8")
        log.info("demo: wrote %s (dates relative to now); its first reminder is due in %s, "
                 "a hearing moves %s after the start", self.path, format_duration(self.lead),
                 format_duration(self.change_after))

    def start(self) -> None:
        self._timer = threading.Timer(self.change_after.total_seconds(), self._change)
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
