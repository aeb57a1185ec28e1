"""Expand recurring iCalendar events into occurrences, lazily and within limits.

Call :func:`expand` with the parsed calendar, the UIDs of its recurring masters, the
window and an :class:`ExpandLimits`. A remote feed is untrusted: a 230-byte
``RRULE:FREQ=SECONDLY`` must be an error, not millions of events. Two bounds apply:

* **cost**: before anything is expanded, each RRULE is walked lazily (dateutil,
  no cache) from its DTSTART to the window's end, counting the instances; a rule
  that needs more than ``max_steps`` (summed over the calendar) is refused. This
  bounds the time and the memory of the expansion itself, which walks from DTSTART;
* **output**: occurrences are taken one at a time from each series' generator and
  the expansion stops as soon as a series has more than ``max_occurrences`` or
  the calendar more than ``max_events``.

Every refusal raises :class:`RecurrenceLimitError` naming the UID and the limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from dateutil.rrule import rrulestr


class RecurrenceLimitError(ValueError):
    """A recurring event (or the whole calendar) is over an expansion limit."""


@dataclass(frozen=True)
class ExpandLimits:
    """How far one calendar may expand (``[[sources]]`` max_occurrences, max_events)."""

    max_occurrences: int = 1000  # per recurring event (series)
    max_events: int = 10_000  # events + occurrences in the calendar
    # RRULE instances walked from DTSTART to the window's end, over the calendar.
    # Not an output count: what the expansion costs before the window is reached.
    max_steps: int | None = None

    @property
    def steps(self) -> int:
        return self.max_steps if self.max_steps is not None else 5 * self.max_events


def _uid(comp: Any) -> str | None:
    v = comp.get("UID")
    return str(v).strip() or None if v is not None else None


def _rules(ev: Any) -> list[str]:
    value = ev.get("RRULE")
    if value is None:
        return []
    return [r.to_ical().decode() for r in (value if isinstance(value, list) else [value])]


def _instances(rule: str, start: date | datetime) -> Iterator[datetime]:
    """The rule's instances from ``start``, lazily (no dateutil cache: memory stays flat)."""
    dtstart = start if isinstance(start, datetime) else datetime.combine(start, time())
    try:
        it = rrulestr(rule, dtstart=dtstart, cache=False)
    except ValueError:
        # dateutil wants UNTIL in UTC when DTSTART has a zone, and feeds get that
        # wrong; without UNTIL the count is an over-estimate, never an under-estimate.
        it = rrulestr(re.sub(r";?UNTIL=[^;]*", "", rule), dtstart=dtstart, cache=False)
    return iter(it)


def check_cost(events: list[Any], recurring: set[str | None], end: datetime,
               limits: ExpandLimits) -> None:
    """Refuse rules that would walk more than ``limits.steps`` instances before ``end``."""
    budget = limits.steps
    used = 0
    for ev in events:
        uid = _uid(ev)
        if uid not in recurring or "RECURRENCE-ID" in ev or "DTSTART" not in ev:
            continue
        start = ev.decoded("DTSTART")
        stop = end if isinstance(start, datetime) and start.tzinfo else end.replace(tzinfo=None)
        for rule in _rules(ev):
            for at in _instances(rule, start):
                if at > stop:
                    break
                used += 1
                if used > budget:
                    raise RecurrenceLimitError(
                        f"recurring event UID {uid!r} (RRULE:{rule}) repeats more than "
                        f"{budget} times between its DTSTART and {end:%Y-%m-%d}, too many to "
                        f"expand (limit: 5 x max_events); nothing was applied")


def expand(cal: Any, events: list[Any], recurring: set[str | None],
           window: tuple[datetime, datetime], limits: ExpandLimits,
           singles: int = 0) -> list[tuple[Any, str]]:
    """(occurrence component, series UID) for every occurrence in ``window``, in order.

    ``singles`` is the number of non-recurring events, counted against ``max_events``.
    """
    import recurring_ical_events  # only remote sources need it

    check_cost(events, recurring, window[1], limits)
    total = singles
    out: list[tuple[Any, str]] = []
    try:
        query = recurring_ical_events.of(cal)
        series_list = list(query.series)
    except Exception as e:  # the library raises many types for bad rules
        raise ValueError(f"cannot expand recurring events: {e}") from e
    for series in series_list:
        uid = str(series.uid)
        if uid not in recurring:
            continue
        count = 0
        try:
            for occ in series.between(*window):  # a generator: stop as soon as over
                count += 1
                total += 1
                if count > limits.max_occurrences:
                    raise RecurrenceLimitError(
                        f"recurring event UID {uid!r} has more than {limits.max_occurrences} "
                        f"occurrences between {window[0]:%Y-%m-%d} and {window[1]:%Y-%m-%d} "
                        "(max_occurrences); nothing was applied")
                if total > limits.max_events:
                    raise RecurrenceLimitError(
                        f"more than {limits.max_events} events (max_events) once recurring "
                        f"events are expanded, reached at UID {uid!r}; nothing was applied")
                out.append((occ.as_component(False), uid))
        except RecurrenceLimitError:
            raise
        except Exception as e:  # the library raises many types for bad rules
            raise ValueError(f"cannot expand recurring event UID {uid!r}: {e}") from e
    return out
