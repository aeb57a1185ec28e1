"""Helpers for the remote-source tests: iCal fixtures, settings, stored-event snapshots."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import select

from notifier.config import Settings, SourceSettings, parse_settings
from notifier.store import Store
from notifier.store.models import Change, Event

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

# uid -> (summary, local DTSTART in America/New_York)
BASE = {
    "h1@court": ("Hearing on motions", "20250702T093000"),
    "h2@court": ("Status conference", "20250709T100000"),
    "h3@court": ("Trial", "20250801T093000"),
    "h4@court": ("Sentencing", "20250815T140000"),
}


def ics(events: dict[str, tuple[str, str]], *, name: str = "Part 99",
        extra: str = "") -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Court//Part 99//EN",
             f"X-WR-CALNAME:{name}", "X-WR-TIMEZONE:America/New_York"]
    for uid, (summary, start) in events.items():
        lines += ["BEGIN:VEVENT", f"UID:{uid}", f"SUMMARY:{summary}",
                  f"DTSTART;TZID=America/New_York:{start}", "DURATION:PT1H",
                  # A DTSTAMP that changes on every export, as many servers do.
                  f"DTSTAMP:{datetime.now(UTC):%Y%m%dT%H%M%S}Z",
                  "CATEGORIES:hearing", "LOCATION:Part 99", "END:VEVENT"]
    if extra:
        lines += extra.strip().splitlines()
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def make_settings(tmp_path: Path, db_url: str, *sources: dict[str, Any],
                  extra: dict[str, Any] | None = None) -> Settings:
    data: dict[str, Any] = {"database": {"url": db_url}, "sources": list(sources)}
    data.update(extra or {})
    return parse_settings(data, origin="test.toml", base_dir=tmp_path, env={})


def source(settings: Settings, name: str | None = None) -> SourceSettings:
    return next(s for s in settings.sources if name is None or s.name == name)


def snapshot(store: Store) -> list[tuple[Any, ...]]:
    """Every stored event's identity, time, status and removal, for before/after checks."""
    with store.read() as s:
        rows = s.exec(select(Event).order_by(Event.uid)).all()
        return [(e.uid, e.source, e.start_utc, e.status, e.removed_at, e.sequence)
                for e in rows]


def live_uids(store: Store, key: str = "source:part-99") -> set[str]:
    with store.read() as s:
        return {e.uid for e in s.exec(select(Event).where(Event.source == key)).all()
                if e.removed_at is None}


def change_count(store: Store) -> int:
    with store.read() as s:
        return len(s.exec(select(Change)).all())
