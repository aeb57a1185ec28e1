"""Helpers of the parse fault tests: calendar files, and a store's rows per file."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from notifier.store import Store
from notifier.store.models import Case, Change, Event

T0 = datetime(2025, 6, 20, 12, 0, tzinfo=UTC)


def toml_cal(case: str, events: list[tuple[str, str]], *, tz: str = "America/New_York",
             extra_case: str = "") -> str:
    """A TOML calendar file: ``events`` are (id, date) pairs of date-only hearings."""
    text = f'[case]\nid = "{case}"\ntitle = "Case {case}"\ntimezone = "{tz}"\n{extra_case}'
    for eid, day in events:
        text += (f'\n[[events]]\nid = "{eid}"\nkind = "hearing"\ntitle = "Hearing {eid}"\n'
                 f'date = {day}\n')
    return text


def ics_cal(events: list[tuple[str, str]], extra_event: str = "") -> bytes:
    """An .ics file: ``events`` are (UID, DTSTART value) pairs."""
    body = "".join(f"BEGIN:VEVENT\r\nUID:{uid}\r\nSUMMARY:Hearing {uid}\r\n"
                   f"DTSTART:{start}\r\n{extra_event}END:VEVENT\r\n" for uid, start in events)
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{body}"
            "END:VCALENDAR\r\n").encode()


def rows_of(store: Store, source: str) -> list[tuple[object, ...]]:
    """Every stored row (case, events, their changes) that belongs to one file."""
    with store.read() as s:
        events = s.exec(select(Event).where(Event.source == source)).all()
        uids = [e.uid for e in events]
        cases = {e.case_id for e in events}
        out = [tuple(e.model_dump().values()) for e in events]
        out += [tuple(c.model_dump().values()) for c in s.exec(select(Change)).all()
                if c.event_uid in uids]
        out += [tuple(c.model_dump().values()) for c in s.exec(select(Case)).all()
                if c.id in cases]
    return sorted(out, key=repr)


def live_uids(store: Store, source: str) -> set[str]:
    with store.read() as s:
        return {e.uid for e in s.exec(select(Event).where(Event.source == source)).all()
                if e.removed_at is None}
