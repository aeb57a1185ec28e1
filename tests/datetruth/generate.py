"""Calendar files for the date-truth test, and the instant each of their events means.

Call :func:`write_calendars` with a folder: it writes one TOML calendar file per zone in
:data:`ZONES` (timed events in 2027-2028, many within three hours of a DST change and
some on it, date-only and multi-day events) and returns :class:`Truth` per event UID.
The truth is worked out here from the wall times alone with :mod:`zoneinfo`, as the
README defines them: a wall time that happens twice is its first occurrence, a
``duration`` is elapsed time. Wall times skipped by a change are never written (a
calendar file may not hold them). Transitions are found by an hourly probe, not by
notifier's own code.
"""

from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ZONES = (
    "America/New_York", "America/Los_Angeles", "Europe/Berlin", "Europe/London",
    "Australia/Sydney", "Australia/Lord_Howe",  # 30-minute DST
    "Antarctica/Troll",  # 2-hour DST
    "Europe/Dublin",  # negative DST in tzdata
    "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Chatham", "America/St_Johns",  # odd offsets
    "Europe/Istanbul", "America/Sao_Paulo", "Europe/Moscow", "Asia/Tehran",  # DST abolished
    "America/Mexico_City",
    "Africa/Casablanca",  # Ramadan changes, irregular
    "America/Santiago", "Pacific/Easter", "Pacific/Auckland", "America/Havana",
    "Asia/Jerusalem", "Africa/Cairo", "America/Nuuk", "Asia/Tokyo",
)
YEARS = (2027, 2028)
TIMED_PER_ZONE = 330
DATED_PER_ZONE = 70
DURATIONS = ("30m", "90m", "3h", "26h", "45m")
_MINUTES = {"m": 1, "h": 60}


@dataclass(frozen=True)
class Truth:
    """What an event means: UTC instants (timed) or dates with an exclusive end."""

    zone: str
    start: datetime | date
    end: datetime | date
    wall: datetime | None = None  # the local start as written, for timed events

    @property
    def timed(self) -> bool:
        return isinstance(self.start, datetime)


def case_id(zone: str) -> str:
    return "dt-" + zone.lower().replace("/", "-").replace("_", "-")


def exists(wall: datetime, tz: ZoneInfo) -> bool:
    """False for a wall time skipped by a change (it does not survive a round trip)."""
    there = wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return there == wall


def instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first occurrence of a wall time (fold=0 is the earlier one in zoneinfo)."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _offset(ts: int, tz: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(ts, tz).utcoffset()


def changes(tz: ZoneInfo) -> list[tuple[datetime, timedelta]]:
    """(UTC instant, offset before) of every offset change in :data:`YEARS`.

    Probed every 6 hours, then narrowed to the second.
    """
    out = []
    t = int((datetime(YEARS[0], 1, 1, tzinfo=UTC) - timedelta(days=1)).timestamp())
    stop = int(datetime(YEARS[-1] + 1, 1, 1, tzinfo=UTC).timestamp())
    before = _offset(t, tz)
    while t < stop:
        nxt = t + 6 * 3600
        if _offset(nxt, tz) != before:
            lo, hi = t, nxt
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if _offset(mid, tz) == before else (lo, mid)
            assert before is not None
            out.append((datetime.fromtimestamp(hi, UTC), before))
            before = _offset(hi, tz)
        t = nxt
    return out


def _duration(text: str) -> timedelta:
    return timedelta(minutes=int(text[:-1]) * _MINUTES[text[-1]])


def _zone_events(zone: str) -> list[tuple[str, dict[str, object]]]:
    tz = ZoneInfo(zone)
    rng = random.Random(zlib.crc32(zone.encode()))
    walls: list[datetime] = []
    found = changes(tz)
    for at, before in found:
        # Every 10 minutes from 3 h before to 3 h after the change, in the wall time
        # before it: the hour of a fall-back happens twice, a spring-forward gap is skipped.
        centre = (at + before).replace(tzinfo=None)
        walls += [centre + timedelta(minutes=10 * k) for k in range(-18, 19)]
    first, days = date(YEARS[0], 1, 1), (date(YEARS[-1] + 1, 1, 1) - date(YEARS[0], 1, 1)).days
    while len(walls) < TIMED_PER_ZONE * 2:
        day = first + timedelta(days=rng.randrange(days))
        walls.append(datetime(day.year, day.month, day.day, rng.randrange(24),
                              rng.randrange(0, 60, 5)))
    walls = [w for w in dict.fromkeys(walls) if exists(w, tz)][:TIMED_PER_ZONE]
    out: list[tuple[str, dict[str, object]]] = []
    for i, wall in enumerate(walls):
        out.append((f"t{i:04d}", {"start": wall, "duration": DURATIONS[i % len(DURATIONS)]}))
    change_days = [(at + before).date() for at, before in found]
    for i in range(DATED_PER_ZONE):
        day = change_days[i] if i < len(change_days) else \
            first + timedelta(days=rng.randrange(days))
        fields: dict[str, object] = {"date": day}
        if i % 2:
            fields["end_date"] = day + timedelta(days=1 + i % 5)
        out.append((f"d{i:04d}", fields))
    return out


def _toml_value(v: object) -> str:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%S")
    if isinstance(v, date):
        return v.isoformat()
    return f'"{v}"'


def write_calendars(folder: Path) -> dict[str, Truth]:
    """One calendar file per zone in ``folder``; the truth of every event, by UID."""
    truth: dict[str, Truth] = {}
    for zone in ZONES:
        tz, cid = ZoneInfo(zone), case_id(zone)
        lines = ["[case]", f'id = "{cid}"', f'title = "Date truth: {zone}"',
                 f'court = "Court in {zone}"', f'timezone = "{zone}"', ""]
        for event_id, fields in _zone_events(zone):
            lines += ["[[events]]", f'id = "{event_id}"', 'kind = "hearing"',
                      f'title = "Hearing {event_id}"']
            lines += [f"{k} = {_toml_value(v)}" for k, v in fields.items()]
            lines.append("")
            uid = f"{cid}/{event_id}@notifier"
            if "start" in fields:
                wall = fields["start"]
                assert isinstance(wall, datetime)
                start = instant(wall, tz)
                end = start + _duration(str(fields["duration"]))
                truth[uid] = Truth(zone, start, end, wall)
            else:
                day = fields["date"]
                assert isinstance(day, date)
                last = fields.get("end_date", day)
                assert isinstance(last, date)
                truth[uid] = Truth(zone, day, last + timedelta(days=1))
        (folder / f"{cid}.toml").write_text("\n".join(lines), encoding="utf-8")
    return truth


_DAY = r"\w{3} \d{1,2} \w{3} \d{4}"
_WHEN = re.compile(rf"(?P<d1>{_DAY}) (?P<t1>\d\d:\d\d)(?: (?P<z1>[^\s–]+))?"
                   rf"(?:–| – (?P<d2>{_DAY}) )(?P<t2>\d\d:\d\d) (?P<z2>\S+)")


def _read_wall(day: str, hm: str, name: str, tz: ZoneInfo) -> datetime | None:
    """The one instant a wall time and zone name can mean, or None when not exactly one."""
    wall = datetime.strptime(f"{day} {hm}", "%a %d %b %Y %H:%M")
    found = {instant.astimezone(UTC) for fold in (0, 1)
             if exists(wall, tz) and (instant := wall.replace(tzinfo=tz, fold=fold))
             and instant.tzname() == name}
    return found.pop() if len(found) == 1 else None


def read_when(text: str, zone: str) -> tuple[datetime | None, datetime | None] | None:
    """What a reader takes a shown time such as ``Sun 7 Nov 2027 00:30 EDT–01:30 EST``
    (or ``Wed 2 Jul 2025 09:30–10:30 EDT``: one name for both) to mean, if it can."""
    m = _WHEN.search(text)
    if m is None:
        return None
    tz = ZoneInfo(zone)
    start = _read_wall(m["d1"], m["t1"], m["z1"] or m["z2"], tz)
    end = _read_wall(m["d2"] or m["d1"], m["t2"], m["z2"], tz)
    return start, end
