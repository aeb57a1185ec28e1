"""The ``.ics`` attachment of an email notification: one event as a calendar file.

Call :func:`event_ics` with the event and its case; it reuses the feed's
VEVENT builder (:mod:`notifier.feeds.ical`), so the attachment has the same UID as the
feed entry and a calendar client updates the event rather than duplicating it.
"""

from __future__ import annotations

from ..config import Settings
from ..feeds.ical import assemble, case_header, event_fragment
from ..feeds.rendered import options_from
from ..feeds.rows import case_of, event_of
from ..store.models import Case, Event


def event_ics(ev: Event, case: Case, settings: Settings) -> bytes | None:
    """VCALENDAR bytes holding ``ev``, or None when it has no date yet."""
    opts = options_from(settings)
    fcase = case_of(case)
    frag = event_fragment(event_of(ev, ()), fcase, (), opts)
    if frag is None:
        return None
    return assemble(case_header(fcase, (), opts), [frag], opts)
