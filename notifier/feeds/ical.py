"""Pure iCalendar rendering: cases and events (plain data) -> feed bytes.

Call :func:`render_feed` for a whole feed from plain data, or build one from
cached pieces: :func:`event_fragment` (one VEVENT, cacheable while its inputs are
equal), :func:`timezone_block` and :func:`assemble`. :mod:`notifier.feeds.cache`
does the caching; both paths produce the same bytes. Nothing here reads the clock:
"now" is passed in and only decides which cancelled events are still kept, so the
output is a function of the data alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, vDuration, vText, vUri
from icalendar import Event as VEvent
from icalendar.enums import STATUS, TRANSP

from ..specs import When
from ..tracking.diff import label
from .vtimezone import vtimezone

PRODID = "-//notifier//Court calendar feed//EN"
END = b"END:VCALENDAR\r\n"  # a feed's last line: every fragment comes right before it
ALL_NAME = "Court dates: all cases"
FOLLOWED_NAME = "Court dates: cases you follow"
_STATUS = {"tentative": STATUS.TENTATIVE, "cancelled": STATUS.CANCELLED,
           "postponed": STATUS.CANCELLED}
_SUFFIX = {"tentative": " (tentative)", "cancelled": " (cancelled)", "postponed": " (postponed)"}
_GONE = ("cancelled", "postponed")
_UTC_NAMES = ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu")


@dataclass(frozen=True, slots=True)
class FeedCase:
    id: str
    title: str
    timezone: str
    court: str | None = None
    judge: str | None = None
    url: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FeedChange:
    at: datetime
    summary: str


@dataclass(frozen=True, slots=True)
class FeedEvent:
    uid: str
    case_id: str
    event_id: str
    kind: str
    title: str
    status: str
    date: dt.date | None
    end_date: dt.date | None
    start_utc: datetime | None
    end_utc: datetime | None
    sort_utc: datetime | None
    location: str | None
    notes: str | None
    url: str | None
    judge: str | None
    sequence: int
    removed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # The most recent changes, newest first (already cut to the configured number).
    changes: tuple[FeedChange, ...] = ()

    @property
    def dated(self) -> bool:
        return self.date is not None

    @property
    def open_undated(self) -> bool:
        """Still to be dated: listed in descriptions, never a VEVENT."""
        return (self.date is None and self.removed_at is None
                and self.status not in ("cancelled", "completed"))

    def gone_since(self) -> datetime | None:
        """When the event stopped happening (removed, cancelled, postponed), if it did."""
        if self.removed_at is not None:
            return self.removed_at
        return self.updated_at if self.status in _GONE else None


@dataclass(frozen=True, slots=True)
class FeedOptions:
    base_url: str
    refresh_interval: timedelta = timedelta(hours=1)
    keep_cancelled: timedelta = timedelta(days=30)
    history: int = 5
    # Link each event and calendar to its case page. Off for private feeds: the page
    # needs the subscriber's token, which a shared, cached feed body cannot carry.
    links: bool = True


@dataclass(frozen=True, slots=True)
class Fragment:
    """One serialised VEVENT and the time zone span it needs (None for date-only)."""

    data: bytes | memoryview  # a view into a whole feed's body once cached (one copy)
    tzid: str | None = None
    years: tuple[int, int] = (0, 0)


def case_url(opts: FeedOptions, case_id: str) -> str:
    return f"{opts.base_url}/cases/{case_id}"


def _tz(name: str) -> dt.tzinfo:
    return UTC if name in _UTC_NAMES else ZoneInfo(name)


def undated_note(ev: FeedEvent) -> str:
    what = "new date to be set" if ev.status == "postponed" else "date to be set"
    return f"{ev.title}: {what}"


def in_feed(ev: FeedEvent, now: datetime, keep: timedelta) -> bool:
    """Dated, and not cancelled/removed for longer than ``keep``."""
    if ev.date is None:
        return False
    gone = ev.gone_since()
    return gone is None or gone + keep > now


def expires_at(ev: FeedEvent, keep: timedelta) -> datetime | None:
    """When :func:`in_feed` turns false for this event by the clock alone."""
    gone = ev.gone_since()
    return None if gone is None or ev.date is None else gone + keep


# C0 control bytes other than tab, LF and CR (which end content lines), and DEL.
# Calendar files and sources refuse them, but rows stored before that check, or a
# query string echoed into X-WR-CALNAME, must not put a NUL into a feed: clients
# truncate or reject the whole calendar at one. UTF-8 never uses these bytes inside
# a multi-byte character, so removing them keeps the text valid.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def no_controls(data: bytes) -> bytes:
    """Serialised iCalendar without control bytes (line endings and tabs kept)."""
    return data.translate(None, _CONTROL_BYTES)


def one_line(text: str) -> str:
    """Titles and locations as one line: a CR/LF in a calendar file becomes a space."""
    return " ".join(text.split())


def summary(ev: FeedEvent, case: FeedCase) -> str:
    """What a month view shows: ``Hearing: People v. Harvey Weinstein``."""
    suffix = " (removed)" if ev.removed_at else _SUFFIX.get(ev.status, "")
    return one_line(f"{label(ev.kind)}{suffix}: {case.title}")


def description(ev: FeedEvent, case: FeedCase, undated: Sequence[str], opts: FeedOptions) -> str:
    tz = ZoneInfo(case.timezone)
    when = When(date=ev.date, end_date=ev.end_date, start=ev.start_utc, end=ev.end_utc)
    status = "removed from the court calendar" if ev.removed_at else ev.status
    lines = [ev.title, f"When: {when.describe(tz)}", f"Status: {status}"]
    if case.court:
        lines.append(f"Court: {case.court}")
    judge = ev.judge or case.judge
    if judge:
        lines.append(f"Judge: {judge}")
    if ev.location:
        lines.append(f"Location: {ev.location}")
    if ev.notes:
        lines += ["", ev.notes]
    if undated:
        lines += ["", "Also in this case:"] + [f"- {u}" for u in undated]
    if ev.changes:
        lines += ["", "Recent changes:"]
        lines += [f"- {c.at.astimezone(tz):%Y-%m-%d}: {c.summary}" for c in ev.changes]
    if ev.url:
        lines += ["", f"Source: {ev.url}"]
    if opts.links:
        lines += ["", f"Case page: {case_url(opts, case.id)}"]
    return "\n".join(lines)


def _ambiguous(local: datetime) -> bool:
    """True when the wall time of ``local`` happens twice (a fall-back night's 01:30)."""
    return local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset()


def _unambiguous(start: datetime, end: datetime | None) -> tuple[datetime, datetime | None]:
    """Start and end as court-local times, or both in UTC when either happens twice.

    A TZID wall time cannot say which 01:30 of a fall-back night it means (clients
    take the first), so such times are written in UTC. Both, not just the one: a
    client that adds the event's length to DTSTART in wall-clock time
    (recurring-ical-events does) would put a UTC end one DST offset off.
    """
    if _ambiguous(start) or (end is not None and _ambiguous(end)):
        return start.astimezone(UTC), end.astimezone(UTC) if end is not None else None
    return start, end


def event_fragment(ev: FeedEvent, case: FeedCase, undated: tuple[str, ...],
                   opts: FeedOptions) -> Fragment | None:
    """The VEVENT for one dated event, or None for an event still to be dated.

    Depends only on its arguments, so a cache may keep it while they are equal.
    icalendar escapes text values, so CR/LF, ``;`` and ``,`` in titles, notes or
    locations stay inside their property.
    """
    if ev.date is None:
        return None
    stamp = max(ev.updated_at, case.updated_at or ev.updated_at)
    tzid: str | None = None
    years = (0, 0)
    start: date | datetime
    end: date | datetime | None
    if ev.start_utc is not None:
        tz = _tz(case.timezone)
        start, end = _unambiguous(ev.start_utc.astimezone(tz),
                                  ev.end_utc.astimezone(tz) if ev.end_utc else None)
        if tz is not UTC:
            tzid = case.timezone
            years = (start.year, (end or start).year)
    else:
        start = ev.date
        end = (ev.end_date or ev.date) + timedelta(days=1)  # DTEND is exclusive
    status = STATUS.CANCELLED if ev.removed_at else _STATUS.get(ev.status, STATUS.CONFIRMED)
    vevent = VEvent.new(
        uid=ev.uid, summary=summary(ev, case), start=start, end=end, stamp=stamp,
        created=ev.created_at, last_modified=stamp, sequence=ev.sequence, status=status,
        location=one_line(ev.location) if ev.location else None,
        description=description(ev, case, undated, opts),
        url=case_url(opts, case.id) if opts.links else None, categories=[label(ev.kind)],
        transparency=TRANSP.TRANSPARENT if ev.start_utc is None else TRANSP.OPAQUE,
    )
    return Fragment(no_controls(vevent.to_ical()), tzid, years)


def timezone_block(tzid: str, first_year: int, last_year: int) -> bytes:
    """VTIMEZONE for ``tzid`` covering the given years (Outlook needs one per TZID).

    Written by :mod:`.vtimezone` so that every client, ical.js included, reads it alike.
    """
    return vtimezone(tzid, first_year, last_year)


def timezone_blocks(fragments: Iterable[Fragment]) -> list[bytes]:
    spans: dict[str, tuple[int, int]] = {}
    for f in fragments:
        if f.tzid is None:
            continue
        lo, hi = spans.get(f.tzid, f.years)
        spans[f.tzid] = (min(lo, f.years[0]), max(hi, f.years[1]))
    return [timezone_block(t, lo, hi) for t, (lo, hi) in sorted(spans.items())]


@dataclass(frozen=True, slots=True)
class Header:
    """Calendar-level properties of one feed."""

    name: str
    description: str | None = None
    timezone: str | None = None  # X-WR-TIMEZONE, for one-case feeds
    url: str | None = None


def assemble(header: Header, fragments: Sequence[Fragment], opts: FeedOptions) -> bytes:
    """Wrap serialised VEVENTs (in order) and their VTIMEZONEs into one VCALENDAR."""
    return b"".join(assemble_parts(header, fragments, opts))


def assemble_parts(header: Header, fragments: Sequence[Fragment],
                   opts: FeedOptions) -> list[bytes | memoryview]:
    """The pieces :func:`assemble` joins, in order."""
    # Built property by property: Calendar.new() adds a random UID and writes
    # NAME/X-WR-CALNAME unescaped, which would break both the ETag and escaping.
    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    for prop in ("NAME", "X-WR-CALNAME"):
        cal.add(prop, vText(one_line(header.name)))
    if header.description:
        for prop in ("DESCRIPTION", "X-WR-CALDESC"):
            cal.add(prop, vText(header.description))
    if header.timezone:
        cal.add("X-WR-TIMEZONE", vText(header.timezone))
    if header.url:
        cal.add("URL", vUri(header.url))
    cal.add("REFRESH-INTERVAL", vDuration(opts.refresh_interval),
            parameters={"VALUE": "DURATION"})
    cal.add("X-PUBLISHED-TTL", vDuration(opts.refresh_interval))
    head = no_controls(bytes(cal.to_ical()))
    assert head.endswith(END)
    return [head[: -len(END)], *timezone_blocks(fragments), *(f.data for f in fragments), END]


def etag(body: bytes) -> str:
    """The strong, quoted ETag of a feed's bytes."""
    return f'"{hashlib.sha256(body).hexdigest()[:40]}"'


def case_header(case: FeedCase, undated: Sequence[str], opts: FeedOptions,
                kinds: frozenset[str] | None = None) -> Header:
    bits = [b for b in (case.court, case.judge) if b]
    if undated:
        bits.append("Dates to be set: " + "; ".join(undated))
    name = case.title + (f" ({', '.join(sorted(kinds))})" if kinds else "")
    return Header(name=name, description=". ".join(bits) or None, timezone=case.timezone,
                  url=case_url(opts, case.id) if opts.links else None)


def all_header(opts: FeedOptions, kinds: frozenset[str] | None = None) -> Header:
    name = ALL_NAME + (f" ({', '.join(sorted(kinds))})" if kinds else "")
    return Header(name=name, url=opts.base_url + "/" if opts.links else None)


def followed_header(opts: FeedOptions) -> Header:
    """A subscriber's own calendar of the cases they follow."""
    return Header(name=FOLLOWED_NAME, url=opts.base_url + "/" if opts.links else None)


def sort_key(ev: FeedEvent) -> tuple[datetime, str, str]:
    far = datetime.max.replace(tzinfo=UTC)
    return (ev.sort_utc or far, ev.case_id, ev.event_id)


def undated_by_case(events: Iterable[FeedEvent]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for ev in events:
        if ev.open_undated:
            out.setdefault(ev.case_id, []).append((ev.event_id, undated_note(ev)))
    return {c: tuple(n for _, n in sorted(v)) for c, v in out.items()}


def render_feed(cases: Sequence[FeedCase], events: Sequence[FeedEvent], opts: FeedOptions,
                now: datetime, *, case_id: str | None = None,
                kinds: frozenset[str] | None = None) -> bytes:
    """A whole feed, uncached: every case (``case_id`` None) or one case."""
    by_id = {c.id: c for c in cases}
    undated = undated_by_case(events)
    chosen = sorted((e for e in events if (case_id is None or e.case_id == case_id)
                     and (not kinds or e.kind in kinds) and in_feed(e, now, opts.keep_cancelled)),
                    key=sort_key)
    frags = [f for e in chosen
             if (f := event_fragment(e, by_id[e.case_id], undated.get(e.case_id, ()), opts))]
    header = (all_header(opts, kinds) if case_id is None
              else case_header(by_id[case_id], undated.get(case_id, ()), opts, kinds))
    return assemble(header, frags, opts)
