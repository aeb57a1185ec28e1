"""Parse a court's CSV export (one row per hearing) into a :class:`CalendarSpec`.

Call :func:`parse_csv` with the body and the source's settings; the
``[sources.csv]`` table says which column holds what and how dates and times are
written. Times are local to the source's ``timezone``. Each event gets a stable
id from the mapped key fields (never the date, so a moved hearing keeps its id).
Rows sharing a key get provisional ids in date order (``key``, ``key-2``, ...)
and are listed in :attr:`CsvSpec.groups`; unless the key includes an upstream
``id``, :mod:`.matching` then gives them the ids of the stored events nearest in
date, so one hearing leaving the export does not shift the others' ids.
Any bad row makes the whole file an error: a half-read export must not look
like hearings were dropped.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time

from ..config.sources import CsvMapping, SourceSettings
from ..errors import CalendarError
from ..specs import CalendarSpec, CaseSpec, EventSpec, When
from ..timeutil import local_to_utc, zone

# Upstream words -> notifier statuses; extended (and overridden) by status_map.
BUILTIN_STATUS = {
    "scheduled": "scheduled", "set": "scheduled", "confirmed": "scheduled", "active": "scheduled",
    "calendared": "scheduled", "tentative": "tentative", "tbd": "tbd", "to be determined": "tbd",
    "postponed": "postponed", "continued": "postponed", "adjourned": "postponed",
    "rescheduled": "postponed", "cancelled": "cancelled", "canceled": "cancelled",
    "vacated": "cancelled", "stricken": "cancelled", "withdrawn": "cancelled",
    "completed": "completed", "held": "completed", "heard": "completed",
}
_BLANK = {"", "tba", "tbd", "n/a", "na", "-", "--", "none"}
_MAX_PROBLEMS = 20


@dataclass
class CsvSpec(CalendarSpec):
    """A parsed CSV export.

    ``groups``: (case id, key) -> indexes into ``events`` of the rows with that
    key, in date order. Empty when the key includes an upstream ``id`` column
    (those ids are taken as they are).
    """

    groups: dict[tuple[str, str], list[int]] = field(default_factory=dict)


def event_uid(case_id: str, event_id: str, source_name: str) -> str:
    """The UID of a CSV source's event."""
    return f"{case_id}/{event_id}@{source_name}.source.notifier"


@dataclass
class _Row:
    line: int
    case_id: str
    case_title: str
    key: str
    spec_args: dict[str, object]
    order: tuple[object, ...]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.")


def _kind(text: str, default: str) -> str:
    s = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    if not s:
        return default
    return s if s[0].isalpha() else f"k-{s}"


def _status(text: str, m: CsvMapping) -> str:
    word = " ".join(text.split()).lower()
    custom = {k.strip().lower(): v for k, v in m.status_map.items()}
    if word in custom:
        return custom[word]
    if word in BUILTIN_STATUS:
        return BUILTIN_STATUS[word]
    raise ValueError(f"unknown status {text!r}: map it in [sources.csv] status_map, "
                     f'e.g. status_map = {{ "{text}" = "cancelled" }}')


def _columns(header: list[str], m: CsvMapping, label: str) -> dict[str, int]:
    """Field name -> column index, for every mapped field."""
    names = [h.strip() for h in header]
    lowered = [h.lower() for h in names]
    out: dict[str, int] = {}
    missing = []
    for fld in ("case_number", "case_title", "id", "kind", "title", "date", "time", "end_time",
                "location", "judge", "status", "notes"):
        col = getattr(m, fld)
        if not col:
            continue
        if col.strip() in names:
            out[fld] = names.index(col.strip())
        elif col.strip().lower() in lowered:
            out[fld] = lowered.index(col.strip().lower())
        else:
            missing.append(f"{col!r} ({fld})")
    if missing:
        shown = ", ".join(repr(n) for n in names[:30])
        raise CalendarError(label, [f"{label}: column(s) {', '.join(missing)} not in the "
                                    f"header row; the header has: {shown}"])
    return out


def _cell(row: list[str], cols: dict[str, int], fld: str) -> str:
    i = cols.get(fld)
    if i is None or i >= len(row):
        return ""
    return row[i].strip()


def parse_csv(raw: bytes, src: SourceSettings) -> CsvSpec:
    """Parse a CSV export; raises CalendarError listing every bad row."""
    m = src.csv
    assert m is not None, "parse_csv needs a CSV source"
    label = f"source {src.name!r}"
    try:
        text = raw.decode(m.encoding)
    except (UnicodeDecodeError, LookupError) as e:
        raise CalendarError(src.key, [f"{label}: not {m.encoding} text: {e}"]) from e
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=m.delimiter,
                               strict=True))
    except csv.Error as e:
        raise CalendarError(src.key, [f"{label}: malformed CSV: {e}"]) from e
    if not rows or not any(c.strip() for c in rows[0]):
        raise CalendarError(src.key, [f"{label}: empty file (no header row)"])
    cols = _columns(rows[0], m, label)
    tz = zone(src.timezone)
    problems: list[str] = []
    parsed: list[_Row] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        try:
            parsed.append(_parse_row(row, line, cols, src, tz))
        except ValueError as e:
            problems.append(f"{label}: row {line}: {e}")
    if problems:
        more = len(problems) - _MAX_PROBLEMS
        problems = problems[:_MAX_PROBLEMS] + ([f"{label}: ... and {more} more bad row(s)"]
                                               if more > 0 else [])
        raise CalendarError(src.key, problems)
    return _assemble(parsed, src)


def _parse_row(row: list[str], line: int, cols: dict[str, int], src: SourceSettings,
               tz: object) -> _Row:
    m = src.csv
    assert m is not None
    number = _cell(row, cols, "case_number")
    if src.case:
        case_id = src.case
    elif not number:
        raise ValueError(f"case number ({m.case_number!r}) is empty")
    else:
        case_id = re.sub(r"[^A-Za-z0-9._-]+", "-", number).strip("-.")
        if not case_id:
            raise ValueError(f"case number {number!r} has no letters or digits")
    kind_text = _cell(row, cols, "kind")
    kind = _kind(kind_text, m.default_kind)
    raw_date = _cell(row, cols, "date")
    when = When()
    day: date | None = None
    start_t: time | None = None
    if raw_date.lower() not in _BLANK:
        try:
            day = datetime.strptime(raw_date, m.date_format).date()
        except ValueError as e:
            raise ValueError(f"date {raw_date!r} does not match date_format "
                             f"{m.date_format!r}") from e
        start_t = _time(_cell(row, cols, "time"), m, "time")
        end_t = _time(_cell(row, cols, "end_time"), m, "end_time")
        if start_t is None:
            when = When(date=day)
        else:
            start = local_to_utc(datetime.combine(day, start_t), tz)  # type: ignore[arg-type]
            end = local_to_utc(datetime.combine(day, end_t), tz) if end_t else None  # type: ignore[arg-type]
            when = When(date=day, start=start, end=end if end and end > start else None)
    raw_status = _cell(row, cols, "status")
    status = _status(raw_status, m) if raw_status else "scheduled"
    if not when.dated and status in ("scheduled", "tentative"):
        status = "tbd"
    if when.dated and status == "tbd":
        status = "tentative"
    values = {"case_number": case_id, "kind": kind}
    key_parts = [values.get(f) or _cell(row, cols, f) for f in m.key_fields()]
    key = _slug("-".join(p for p in key_parts if p)) or kind
    title = _cell(row, cols, "title") or kind_text or kind.replace("-", " ").capitalize()
    args: dict[str, object] = dict(
        kind=kind, title=title, status=status, when=when,
        location=_cell(row, cols, "location") or None, judge=_cell(row, cols, "judge") or None,
        notes=_cell(row, cols, "notes") or None)
    order = (day or date.max, start_t or time(0), line)
    return _Row(line, case_id, _cell(row, cols, "case_title") or number or case_id, key, args,
                order)


def _time(text: str, m: CsvMapping, fld: str) -> time | None:
    if text.lower() in _BLANK:
        return None
    try:
        return datetime.strptime(text, m.time_format).time()
    except ValueError as e:
        raise ValueError(f"{fld} {text!r} does not match time_format {m.time_format!r}") from e


def _assemble(rows: list[_Row], src: SourceSettings) -> CsvSpec:
    cases: dict[str, CaseSpec] = {}
    events: list[EventSpec] = []
    groups: dict[tuple[str, str], list[int]] = {}
    # Rows sharing a key (two conferences in one case) get provisional ids in date
    # order; .matching re-assigns them against the stored events.
    for r in sorted(rows, key=lambda r: r.order):
        if r.case_id not in cases:
            cases[r.case_id] = CaseSpec(id=r.case_id, title=r.case_title, timezone=src.timezone)
        group = groups.setdefault((r.case_id, r.key), [])
        event_id = r.key if not group else f"{r.key}-{len(group) + 1}"
        group.append(len(events))
        events.append(EventSpec(uid=event_uid(r.case_id, event_id, src.name), case_id=r.case_id,
                                event_id=event_id, **r.spec_args))  # type: ignore[arg-type]
    if src.case and src.case not in cases:
        cases[src.case] = CaseSpec(id=src.case, title=src.case, timezone=src.timezone)
    assert src.csv is not None
    return CsvSpec(source=src.key, cases=list(cases.values()), events=events,
                   defines_cases=False,
                   groups={} if "id" in src.csv.key_fields() else groups)
