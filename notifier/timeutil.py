"""Durations, time zones and UTC helpers shared by every layer.

``parse_duration("90m")`` is the entry point for config and calendar values;
``to_utc`` / ``local_to_utc`` convert court-local wall times to stored UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Longer than any reminder, retention or hearing; bounds date arithmetic far from
# datetime's limits (years 1-9999), where "99999999999d" used to overflow.
MAX_DURATION = timedelta(days=36500)
# IANA names are at most ~30 characters; a longer one would reach the file system
# as a path (OSError "file name too long") instead of being reported.
_MAX_ZONE_NAME = 100


def parse_duration(value: object) -> timedelta:
    """Parse ``"90m"``, ``"2h"``, ``"7d"``, ``"1w"`` (or a timedelta) into a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            # Digits are counted before int(): "9" * 5000 would be slow to convert.
            digits = m.group(1).lstrip("0")
            if len(digits) > 12 or int(digits or 0) * _UNITS[m.group(2)] > \
                    MAX_DURATION.total_seconds():
                raise ValueError(f"duration {clip(value)} is too long (at most "
                                 f"{MAX_DURATION.days}d)")
            return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    raise ValueError(
        f"invalid duration {clip(value)}: use a whole number and one of s, m, h, d, w "
        "(e.g. \"90m\")"
    )


def clip(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages.

    A bad value is named in its error, but a 5,000-character one would bury the
    message (and every log line that repeats it).
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def format_duration(td: timedelta) -> str:
    """Inverse of :func:`parse_duration` for whole units (``timedelta(days=7)`` -> ``"7d"``)."""
    secs = int(td.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if secs and secs % _UNITS[unit] == 0:
            return f"{secs // _UNITS[unit]}{unit}"
    return f"{secs}s"


_WORDS = (("week", 7 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60))


def spell_duration(td: timedelta) -> str:
    """A duration in words for people ("1 day", "2 weeks", "48 hours", "90 seconds"):
    the largest unit that divides it."""
    secs = int(td.total_seconds())
    for word, size in _WORDS:
        if secs and secs % size == 0:
            n = secs // size
            return f"{n} {word}" + ("" if n == 1 else "s")
    return f"{secs} second" + ("" if secs == 1 else "s")


def zone(name: str) -> ZoneInfo:
    """Return the ZoneInfo for an IANA name, or raise ValueError naming it."""
    problem = ValueError(f"unknown time zone {clip(name)} (use an IANA name such as "
                         "\"America/New_York\")")
    if not isinstance(name, str) or not name or len(name) > _MAX_ZONE_NAME:
        raise problem
    try:
        return ZoneInfo(name)
    # OSError: names the file system rejects (too long a path component, a
    # directory, unreadable); none of them is a time zone.
    except (ZoneInfoNotFoundError, ValueError, OSError) as e:
        raise problem from e


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_utc(dt: datetime) -> datetime:
    """Aware datetime -> aware UTC; naive datetimes are taken to be UTC already."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


class NonexistentLocalTime(ValueError):
    """A wall-clock time skipped by a daylight-saving change (e.g. 02:30 on spring-forward)."""


def local_to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """Court-local naive wall time -> aware UTC.

    A time that does not exist (skipped by spring-forward) raises
    :class:`NonexistentLocalTime`. An ambiguous time (repeated by fall-back) is
    resolved to its first occurrence (``fold=0``), the one printed schedules mean.
    """
    local = wall.replace(tzinfo=tz, fold=0)
    back = local.astimezone(UTC).astimezone(tz)
    if back.replace(tzinfo=None) != wall:
        raise NonexistentLocalTime(
            f"{wall:%Y-%m-%d %H:%M} does not exist in {tz.key} (clocks skip it for "
            "daylight saving)"
        )
    return local.astimezone(UTC)


def day_start_utc(day: date, tz: ZoneInfo) -> datetime:
    """UTC instant of local midnight at the start of ``day`` (ordering key for date-only events)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
