"""The demo case: a calendar file whose dates are relative to now, so a first run shows
a reminder and a change alert within minutes.

Call :func:`demo_calendar` for the file's text (``changed=False`` first, then
``changed=True`` for the version in which one hearing moved); ``notifier run --demo``
writes it as ``demo.toml`` in the first calendar folder (see :mod:`notifier.server.demo`).
Pure: the anchor time comes in, TOML text goes out.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from ..timeutil import zone

DEMO_FILE = "demo.toml"
DEMO_CASE = "demo-state-v-example"
DEMO_ZONE = "America/New_York"
REMINDER = timedelta(hours=1)  # the case's only reminder offset


def _local(at: datetime) -> str:
    return at.astimezone(zone(DEMO_ZONE)).replace(tzinfo=None, microsecond=0).isoformat()


def demo_calendar(anchor: datetime, *, lead: timedelta, changed: bool) -> str:
    """The demo file for a run started at ``anchor`` (aware, UTC).

    The first hearing starts ``REMINDER + lead`` after the anchor, so its reminder is
    due ``lead`` after it; in the ``changed`` version the motion hearing moved from the
    day after tomorrow to three days later (a ``rescheduled_later`` change alert).
    """
    tz = zone(DEMO_ZONE)
    today = anchor.astimezone(tz).date()
    soon = anchor + REMINDER + lead
    motion_day = today + timedelta(days=5 if changed else 2)
    motion = datetime.combine(motion_day, time(14, 0) if changed else time(10, 0))
    sentencing = today + timedelta(days=12)
    moved = ("Moved by the demo a minute after the first reminder." if changed else
             "The court will move this hearing a minute after the first reminder (demo).")
    return f'''# Demo case written by `notifier run --demo`: its dates are relative to the time
# the daemon started ({_local(anchor)} court time). Delete this file to drop the demo.
# The real, historical example is people-v-weinstein.toml.

[case]
id = "{DEMO_CASE}"
title = "Demo: State v. Example"
court = "Demo County Superior Court"
judge = "Judge A. Example"
timezone = "{DEMO_ZONE}"
tags = ["demo"]

[reminders]
offsets = ["1h"]                 # one reminder an hour before each dated event

[[events]]
id = "status-hearing"
kind = "hearing"
title = "Status hearing"
start = {_local(soon)}
duration = "30m"
location = "Courtroom 3"
notes = "Set an hour and a few minutes after the demo started, so its 1h reminder comes soon."

[[events]]
id = "motion-hearing"
kind = "hearing"
title = "Hearing on the motion to suppress"
start = {motion.isoformat()}
duration = "1h"
location = "Courtroom 3"
notes = "{moved}"

[[events]]
id = "trial"
kind = "trial"
title = "Jury trial"
status = "tbd"
notes = "The court will set the trial date at the motion hearing."

[[events]]
id = "sentencing"
kind = "sentencing"
title = "Sentencing on the earlier plea"
date = {sentencing.isoformat()}
'''
