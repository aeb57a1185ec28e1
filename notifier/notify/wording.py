"""The words of a message: headlines with dates, the fact rows, corrections, links.

Pure functions over the JSON-able event snapshot (:func:`planner.event_snapshot`) and
change items (:func:`planner.plan_alert`), used by :mod:`.messages` to build template
variables and by :mod:`.outbox` to word corrections. Every message type and format
shows the same :func:`fact_rows` (when, where, case, judge, notes, next date), every
headline carries a date, and nothing is phrased in the notifier's own terms ("the 1h
reminder"): a reader sees what we told them and what is true now.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from ..config import Settings

_STATUS_VERBS = {"cancelled": "cancelled", "postponed": "postponed",
                 "completed": "completed"}
# Changes whose stored summary already names the date(s) involved.
_DATED = {"added", "removed", "restored", "rescheduled_earlier", "rescheduled_later",
          "time_changed", "date_set", "date_unset"}
UNDATED = "date to be set"
NEXT = "Next date in this case"


def _on(kind: str, when: str) -> str:
    return f"{kind} on {when}" if when and when != UNDATED else f"{kind} (date to be set)"


def headline(kind: str, event: Mapping[str, Any], changes: Sequence[Mapping[str, Any]]) -> str:
    """The first line of a change alert, always with the event's date:
    ``Hearing on Wed 2 Jul 2025 cancelled``, ``Hearing moved later: Wed 2 Jul 2025 ->
    Wed 9 Jul 2025``, ``Hearing on Wed 2 Jul 2025: location changed: A -> B``."""
    if not changes:
        return f"{_on(kind, str(event.get('when') or ''))} changed"
    first = changes[0]
    ckind, summary = str(first.get("kind") or ""), str(first.get("summary") or "")
    when = str(event.get("when") or "")
    if ckind in _DATED or ckind == "tracking":  # "Now tracking N events in CASE"
        return summary
    if ckind in _STATUS_VERBS:
        return f"{_on(kind, when)} {_STATUS_VERBS[ckind]}"
    if ckind == "status_changed":
        return f"{_on(kind, when)} is now {event.get('status') or first.get('after')}"
    # "Hearing location changed: A -> B" -> "Hearing on <date>: location changed: A -> B"
    words = summary.split(" ", 1)
    rest = words[1] if len(words) == 2 and words[0].lower() == kind.split(" ")[0].lower() \
        else summary
    return f"{_on(kind, when)}: {rest}"


def case_line(event: Mapping[str, Any]) -> str:
    title = str(event.get("case_title") or event.get("case_id") or "")
    return f"{title} ({event['court']})" if event.get("court") else title


def fact_rows(event: Mapping[str, Any], case_next: str | None) -> list[tuple[str, str]]:
    """(label, text) rows every event message shows, in this order; empty ones left out
    (the next date always shows, "none scheduled" when there is none)."""
    status = str(event.get("status") or "")
    when = str(event.get("when") or "")
    if when and when != UNDATED:
        when += " (court time)"
    if status in ("cancelled", "postponed", "removed"):
        when = f"{when}: {status}" if when else status
    rows = [("When", when),
            ("Where", str(event.get("location") or "")),
            ("Case", case_line(event)),
            ("Judge", str(event.get("judge") or "")),
            ("Notes", str(event.get("notes") or "")),
            (NEXT, case_next or "none scheduled")]
    return [(k, v) for k, v in rows if v]


def page_link(settings: Settings, channel: str, case_id: str | None) -> str:
    """The case page for a message on ``channel``: with the channel's ``feed_token``
    when the feed is private, and none at all (a link that would 404) without one."""
    base = settings.server.base_url
    if not case_id or not base:
        return ""
    url = f"{base}/cases/{quote(case_id, safe='')}"
    if not settings.feed.private:
        return url
    ch = next((c for c in settings.channels if c.name == channel), None)
    token = ch.feed_token.get_secret_value() if ch is not None and ch.feed_token else ""
    return f"{url}?token={quote(token, safe='')}" if token else ""


def correction(sent_days: Sequence[datetime], said: str, kind: str, now_text: str,
               tz: ZoneInfo) -> str:
    """``Our reminder of Tue 1 Dec said Thu 3 Dec 2026 21:40 EST; the hearing is now
    Fri 4 Dec 2026 10:00 EST.`` for reminders sent at ``sent_days`` (court time)."""
    days = list(dict.fromkeys(f"{d.astimezone(tz):%a} {d.astimezone(tz).day} "
                              f"{d.astimezone(tz):%b}" for d in sorted(sent_days)))
    which = "reminder of " + days[0] if len(days) == 1 else \
        "reminders of " + ", ".join(days[:-1]) + " and " + days[-1]
    return f"Our {which} said {said}; the {kind.lower()} is now {now_text}."


def now_text(event_when: str, status: str, removed: bool) -> str:
    """What an event is now, for :func:`correction`."""
    if removed:
        return "off the court calendar"
    if status in ("cancelled", "postponed"):
        return status
    return event_when or UNDATED


def case_names(titles: Sequence[str], most: int = 2) -> str:
    """``A``, ``A and B``, ``A, B and 3 more`` (for titles that span cases)."""
    names = list(dict.fromkeys(t for t in titles if t))
    if len(names) <= most:
        return " and ".join(names)
    return f"{', '.join(names[:most])} and {len(names) - most} more"
