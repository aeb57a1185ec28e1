"""Every date and time form court clerks write, found in one pass over an entry.

Call :func:`find_dates` first: it returns each date in the text with its span, the
ISO date (a year-less date is completed from the filing date) and the time of day
written right after it ("5/4/2017 10:00 AM", "May 4, 2017 at 1:30 p.m.") or right
before it ("at 9:00 a.m. on May 4, 2017").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3,
    "apr": 4, "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7,
    "aug": 8, "august": 8, "sep": 9, "sept": 9, "september": 9, "oct": 10,
    "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|"
          r"aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_ORD = r"(?:st|nd|rd|th)?"

# Three patterns, each cheap to scan for (one alternation with lookbehinds is several
# times slower): numeric dates, "May 4, 2017", and "4th day of May, 2017" / "4 May 2017".
_NUM_RE = re.compile(
    r"(?:(?P<m>\d{1,2})(?P<sep>[/-])(?P<d>\d{1,2})(?:(?P=sep)(?P<y>\d{4}|\d{2}))?"
    r"(?![\w/-])|(?P<iy>(?:19|20)\d\d)-(?P<im>\d\d)-(?P<id>\d\d)(?![\w-]))")
# Checked in Python rather than as a leading lookbehind, which would stop the regex
# engine from skipping ahead to the next digit.
_NOT_BEFORE_NUM = "/.-_"
_MONTH_WORDS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                "dec")
_WEEKDAY_WORDS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# The month patterns run case-sensitively on the lower-cased text (over twice as fast
# as IGNORECASE), and only when a month word followed by a number is there at all.
_MONTH_FIRST_RE = re.compile(
    rf"\b(?P<mn>{_MONTH})\.?\s+(?P<d>\d{{1,2}}){_ORD}(?:,?\s+(?P<y>\d{{4}}))?(?![\w:/])")
_DAY_FIRST_RE = re.compile(
    rf"\b(?P<d>\d{{1,2}}){_ORD}\s+(?:day\s+of\s+)?(?P<mn>{_MONTH})\.?,?\s+(?P<y>\d{{4}})\b")
_MONTH_HINT = re.compile(r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?,?\s+\d")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def lower(text: str) -> str:
    """``text`` lower-cased with every offset unchanged."""
    low = text.lower()
    # A few non-ASCII letters lower-case to two characters; keep offsets exact then.
    return low if len(low) == len(text) else text.translate(_ASCII_LOWER)


_AMPM = r"(?P<ap>[ap])\.?\s?m\b\.?"
# A time right after a date: "10:00 AM", ", at 2:30 p.m.", "@ 9:00", "at 9 a.m.".
_TIME_AFTER = re.compile(
    rf""",?\s*(?:(?:hearing\s+)?time\s*:\s*)?(?:(?:at|@|beginning\s+at|commencing\s+at|starting\s+at)\s+)?
    (?:(?P<h>\d{{1,2}}):(?P<mi>\d{{2}})(?:\s*(?:{_AMPM}|(?P<noon>noon)))?
      |(?P<h2>\d{{1,2}})\s*(?P<ap2>[ap])\.?\s?m\b\.?
      |(?P<noon2>noon))""",
    re.IGNORECASE | re.VERBOSE,
)
# A time right before a date: "at 9:00 a.m. on May 4", "10:00 AM, Monday, May 4".
_TIME_BEFORE = re.compile(
    rf"""(?:(?<![\d:])(?P<h>\d{{1,2}}):(?P<mi>\d{{2}})\s*(?:{_AMPM})?|(?P<h2>\d{{1,2}})\s*(?P<ap2>[ap])\.?\s?m\b\.?)
    \s*(?:,|on|\s)*(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s*)?(?:on\s+)?\Z""",
    re.IGNORECASE | re.VERBOSE,
)
_WEEKDAY_BEFORE = re.compile(
    r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day|(?:mon|tue|wed|thu|fri)\.?),?\s*\Z",
    re.IGNORECASE)


@dataclass(frozen=True)
class DateHit:
    """One date in an entry: where it is, what it says."""

    start: int
    end: int  # end of the date, or of the time written after it
    date: date
    time: str | None  # "HH:MM", 24-hour
    yearless: bool
    date_end: int = -1  # end of the date text alone


def _year(raw: str) -> int:
    y = int(raw)
    if len(raw) == 2:
        y += 2000 if y < 70 else 1900
    return y


def _complete(month: int, day: int, filed: date | None) -> date | None:
    """A year-less date: the one in the filing year, or the next if that is long past.

    Hearings are set ahead and minute entries record the recent past, so a date more
    than ~4 months before the filing date belongs to the following year.
    """
    if filed is None:
        return None
    try:
        d = date(filed.year, month, day)
    except ValueError:
        return None
    if d < filed - timedelta(days=120):
        try:
            d = date(filed.year + 1, month, day)
        except ValueError:
            return None
    return d


def _hhmm(h: int, mi: int, ap: str | None, noon: bool) -> str | None:
    if noon and not ap:
        h, ap = 12, "p"
    if ap:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if ap.lower() == "p" else 0)
    elif 1 <= h <= 6:
        # Courts sit by day: "at 1:30" with no am/pm is the afternoon.
        h += 12
    if h > 23 or mi > 59:
        return None
    return f"{h:02d}:{mi:02d}"


def _time_from(m: re.Match[str]) -> str | None:
    g = m.groupdict()
    if g.get("h") is not None:
        return _hhmm(int(g["h"]), int(g["mi"]), g.get("ap"), bool(g.get("noon")))
    if g.get("h2") is not None:
        return _hhmm(int(g["h2"]), 0, g["ap2"], False)
    return "12:00"


def _parse(m: re.Match[str], filed: date | None) -> tuple[date, bool] | None:
    g = m.groupdict()
    try:
        if g.get("iy") is not None:
            return date(int(g["iy"]), int(g["im"]), int(g["id"])), False
        mn = g.get("mn")
        mo = _MONTHS[mn.lower()] if mn else int(g["m"])
        d, y = int(g["d"]), g.get("y")
        if y is None:
            if g.get("sep") == "-":
                return None  # "5-4" is a range or a count, not a date
            done = _complete(mo, d, filed)
            return (done, True) if done else None
        return date(_year(y), mo, d), False
    except ValueError:
        return None


def _matches(text: str, low: str) -> list[re.Match[str]]:
    found = [m for m in _NUM_RE.finditer(text)
             if not m.start() or not (text[m.start() - 1] in _NOT_BEFORE_NUM
                                      or text[m.start() - 1].isalnum())]
    if any(w in low for w in _MONTH_WORDS) and _MONTH_HINT.search(low):
        found += _MONTH_FIRST_RE.finditer(low)
        found += _DAY_FIRST_RE.finditer(low)
        found.sort(key=lambda m: (m.start(), -m.end()))
    out: list[re.Match[str]] = []
    for m in found:
        if out and m.start() < out[-1].end():
            continue  # "4th day of May, 2017" also holds "May, 2017"-like pieces
        out.append(m)
    return out


def find_dates(text: str, filed: date | None, low: str | None = None) -> list[DateHit]:
    """Every date in ``text`` in order, each with the time written beside it.

    ``low`` is :func:`lower` of ``text`` when the caller has it already.
    """
    hits: list[DateHit] = []
    for m in _matches(text, low if low is not None else lower(text)):
        parsed = _parse(m, filed)
        if parsed is None:
            continue
        when, yearless = parsed
        end = m.end()
        tm = _TIME_AFTER.match(text, end, min(len(text), end + 40))
        clock: str | None = None
        if tm:
            clock = _time_from(tm)
            end = tm.end() if clock else end
        start = m.start()
        if clock is None:
            lead = text[max(0, start - 40):start]
            # Cheap test first: a time before the date needs a colon or an "m".
            if ":" in lead or "m" in lead or "M" in lead:
                lead_low = lead.lower()
                if any(w in lead_low for w in _WEEKDAY_WORDS):
                    wd = _WEEKDAY_BEFORE.search(lead)
                    if wd:
                        lead = lead[:wd.start()]
                tb = _TIME_BEFORE.search(lead)
                if tb:
                    clock = _time_from(tb)
        hits.append(DateHit(start, end, when, clock, yearless, m.end()))
    return hits
