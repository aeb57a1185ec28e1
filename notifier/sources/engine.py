"""Safe change detection for one fetched source: missing counters and the mass-change hold.

Call :func:`apply_fetch` inside a write transaction with the parsed spec and the
source's :class:`~notifier.store.models.SourceState`. It decides, then either applies
the fetch (through :func:`notifier.tracking.sync.apply_calendar`) or holds it:

* an event missing from the feed is removed only once it has been missing from
  ``missing_fetches`` consecutive successful fetches; past events that drop out
  of a feed (courts prune old hearings) are never removed;
* if the removals due now plus the events moved (date/time changed, cancelled or
  postponed) exceed ``max_change_share`` of the source's upcoming events, nothing
  is applied and the fetch is held until the next fetch brings the same content
  (confirmation) or an operator accepts it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from ..calendars.icsfile import IcsSpec
from ..config import SourceSettings
from ..display import mask_url
from ..specs import CalendarSpec, EventSpec
from ..store.models import Case, Change, Event, SourceState
from ..timeutil import day_start_utc
from ..tracking.sync import ChangeHook, apply_calendar, remove_event, when_of
from .matching import match_stored

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HoldNotice:
    """What the operator is told once when a source's changes are held."""

    source: str  # the [[sources]] name
    url: str  # scheme and host only (mask_url)
    at: datetime
    affected: int  # events that would be removed or moved
    total: int  # the source's upcoming events
    lines: tuple[str, ...]  # one per held change

    @property
    def text(self) -> str:
        head = (f"Source {self.source!r} ({self.url}): held {self.affected} of {self.total} "
                f"events that would be removed or moved; nothing applied. The next fetch "
                f"applies them if it confirms; or run `notifier sources accept {self.source}`.")
        return "\n".join([head, *self.lines])


# Called inside the write transaction, once per hold (route it to the operator channel).
HoldHook = Callable[[Session, HoldNotice, datetime], None]


@dataclass
class Outcome:
    changes: list[Change] = field(default_factory=list)
    held: bool = False
    new_hold: bool = False
    held_lines: list[str] = field(default_factory=list)
    pending_missing: int = 0  # events missing but not yet removed


def spec_digest(spec: CalendarSpec) -> str:
    """A fingerprint of the parsed content (not the bytes: DTSTAMP changes every fetch).

    Occurrences of expanded recurring events are left out for the series
    themselves (:class:`~notifier.calendars.icsfile.IcsSpec`): which occurrences fall in the
    window depends on when the body was parsed, not on what it says, and a hold
    must be confirmable by the same content fetched later.
    """
    events: list[EventSpec] = spec.events
    series: tuple[str, ...] = ()
    if isinstance(spec, IcsSpec):
        events = [e for e in spec.events if e.uid not in spec.expanded]
        series = spec.series
    parts = sorted(repr(e) for e in events) + sorted(repr(c) for c in spec.cases) + \
        [f"series {s}" for s in series]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _is_over(ev: Event, tz: ZoneInfo, now: datetime) -> bool:
    end = ev.end_utc or ev.start_utc
    if end is not None:
        return end < now
    last = ev.end_date or ev.date
    if last is not None:
        return day_start_utc(last + timedelta(days=1), tz) <= now
    return False


def _moved(row: Event, new: EventSpec) -> bool:
    if row.date is not None and when_of(row) != new.when:
        return True
    return row.status != new.status and new.status in ("cancelled", "postponed")


def _ref(ev: Event) -> str:
    return f"{ev.case_id}/{ev.event_id}"


def apply_fetch(s: Session, state: SourceState, spec: CalendarSpec, src: SourceSettings,
                now: datetime, *, bump: bool = True, confirmed: bool = False,
                live: Callable[[str], bool] = lambda _src: True,
                hook: ChangeHook | None = None, on_hold: HoldHook | None = None) -> Outcome:
    """Apply or hold one fetch of ``src`` (see the module docstring); updates ``state``.

    ``bump`` counts this fetch for the missing counters (False when re-applying
    content already counted, as ``accept`` does); ``confirmed`` skips the hold.
    CSV rows sharing a key are first matched to the stored events they continue
    (:func:`.matching.match_stored`); a hold records the digest of ``spec`` as given.
    """
    tzs: dict[str, ZoneInfo] = {}

    def tz_of(case_id: str) -> ZoneInfo:
        if case_id not in tzs:
            case = s.get(Case, case_id)
            tzs[case_id] = ZoneInfo(case.timezone if case else src.timezone)
        return tzs[case_id]

    digest = spec_digest(spec)
    spec = match_stored(s, spec, src.name, lambda ev: _is_over(ev, tz_of(ev.case_id), now))
    stored = list(s.exec(select(Event).where(Event.source == spec.source,
                                             col(Event.removed_at).is_(None))).all())
    upcoming = {ev.uid: ev for ev in stored if not _is_over(ev, tz_of(ev.case_id), now)}
    present = {e.uid: e for e in spec.events}
    old_counts: dict[str, int] = json.loads(state.missing or "{}")
    counts = {uid: old_counts.get(uid, 0) + (1 if bump else 0) or 1
              for uid in upcoming if uid not in present}
    due = [upcoming[uid] for uid, n in counts.items() if n >= src.missing_fetches]
    moved = [(row, present[row.uid]) for row in upcoming.values()
             if row.uid in present and _moved(row, present[row.uid])]

    affected = len(due) + len(moved)
    total = len(upcoming)
    out = Outcome()
    if (not confirmed and total >= src.min_hold_events
            and affected > src.max_change_share * total):
        out.held = True
        out.new_hold = state.held_at is None
        lines = [f"{_ref(r)}: would be removed (missing from {counts[r.uid]} fetches); was "
                 f"{when_of(r).describe(tz_of(r.case_id))}" for r in due]
        for row, new in moved:
            tz = tz_of(row.case_id)
            before, after = when_of(row).describe(tz), new.when.describe(tz)
            lines.append(f"{_ref(row)}: would change: {before} ({row.status}) -> {after} "
                         f"({new.status})")
        out.held_lines = lines
        state.missing = json.dumps(counts, sort_keys=True)
        state.held_digest = digest
        state.held_summary = json.dumps(lines)
        out.pending_missing = len(counts)
        if out.new_hold:
            state.held_at = now
            notice = HoldNotice(source=src.name, url=mask_url(src.url), at=now,
                                affected=affected, total=total, lines=tuple(lines))
            log.warning("%s", notice.text)
            if on_hold is not None:
                on_hold(s, notice, now)
        s.add(state)
        return out

    changes = apply_calendar(s, spec, now, live=live, remove_missing=False)
    for row in due:
        n = counts.pop(row.uid)
        changes += remove_event(s, row, now, where=f"{src.name} (missing from {n} "
                                                   "consecutive fetches)")
    if state.held_at is not None:
        log.info("source %r: held changes applied (%s)", src.name,
                 "accepted" if not bump else "confirmed or superseded by the next fetch")
    state.held_at = state.held_digest = state.held_summary = None
    state.missing = json.dumps(counts, sort_keys=True)
    if changes:
        state.last_change_at = now
        if hook is not None:
            hook(s, changes, now)
    s.add(state)
    s.flush()
    out.changes = changes
    out.pending_missing = len(counts)
    return out
