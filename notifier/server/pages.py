"""What the HTML pages show: each case's dates, its next date first and foremost.

Call :func:`groups` with a feed :class:`~notifier.feeds.rendered.Snapshot` (and a store
session for where moved hearings came from) to get the template variables of the
index (``/``) and of a case page (``/cases/{id}``). Rows carry what a reader needs
to answer "what is next?": the case's next date (``next``), ``today`` / ``tomorrow``
in court time, cancelled and postponed rows (struck through whole), where a moved
hearing was before (``moved_from``), and when the case last changed. Cases are
ordered by their next date; cases with none come last, by title.
:func:`base_url_warning` says when links would point at ``localhost`` while the
server is reachable from elsewhere, :func:`base_url_port_warning` when they would
point at another port of this machine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from ..feeds.ical import FeedEvent
from ..feeds.rendered import Snapshot
from ..specs import When
from ..store.models import Change
from ..tracking.diff import label

UPCOMING_PER_CASE = 20
PAST_ON_CASE_PAGE = 50  # most recent first
_MOVES = ("rescheduled_earlier", "rescheduled_later", "time_changed", "date_set")
_STRUCK = ("cancelled", "postponed", "removed")
_LOCAL = ("localhost", "127.0.0.1", "::1", "[::1]")
_ALL = ("0.0.0.0", "::", "[::]", "")


def _when(e: FeedEvent) -> When:
    return When(date=e.date, end_date=e.end_date, start=e.start_utc, end=e.end_utc)


def upcoming(ev: FeedEvent, tz: ZoneInfo, now: datetime) -> bool:
    if ev.removed_at is not None or ev.status == "completed":
        return False
    if ev.date is None:
        return ev.open_undated
    if ev.start_utc is not None:
        return (ev.end_utc or ev.start_utc) >= now
    return (ev.end_date or ev.date) >= now.astimezone(tz).date()


def _day_word(e: FeedEvent, tz: ZoneInfo, now: datetime) -> str:
    """``today`` / ``tomorrow`` (court time) for an event on or starting that day."""
    if e.date is None:
        return ""
    first = e.start_utc.astimezone(tz).date() if e.start_utc is not None else e.date
    days = (first - now.astimezone(tz).date()).days
    return {0: "today", 1: "tomorrow"}.get(days, "")


def row(e: FeedEvent, tz: ZoneInfo, now: datetime,
        moved_from: dict[str, str] | None = None) -> dict[str, Any]:
    """What the HTML pages show of one event."""
    status = "removed" if e.removed_at else e.status
    return {"uid": e.uid, "label": label(e.kind), "title": e.title, "status": status,
            "when": _when(e).describe(tz), "location": e.location, "notes": e.notes,
            "url": e.url if e.url and re.match(r"^https?://", e.url) else None,
            "struck": status in _STRUCK, "day": _day_word(e, tz, now),
            "moved_from": (moved_from or {}).get(e.uid), "next": False}


def moved_from(s: Session, uids: Iterable[str],
               tz_of: Callable[[str], ZoneInfo]) -> dict[str, str]:
    """uid -> where the event was before its latest move (court time), for the
    events among ``uids`` whose latest change of date or time was a move."""
    wanted = list(uids)
    out: dict[str, str] = {}
    for i in range(0, len(wanted), 500):
        rows = s.exec(select(Change.event_uid, Change.kind, Change.before, Change.case_id)
                      .where(col(Change.event_uid).in_(wanted[i:i + 500]),
                             Change.field == "when")
                      .order_by(col(Change.event_uid), col(Change.id).desc())).all()
        seen: set[str] = set()
        for uid, kind, before, case_id in rows:
            if uid in seen:
                continue
            seen.add(uid)
            was = When.from_json(before)
            if kind in _MOVES and was.dated:
                out[uid] = was.describe(tz_of(case_id))
    return out


def _updated(evs: list[FeedEvent], case_updated: datetime | None,
             tz: ZoneInfo) -> str:
    times = [c.at for e in evs for c in e.changes[:1]]
    times += [e.updated_at for e in evs]
    if case_updated is not None:
        times.append(case_updated)
    if not times:
        return ""
    last = max(times).astimezone(tz)
    return f"{last:%a} {last.day} {last:%b %Y %H:%M %Z}"


def groups(snap: Snapshot, *, only: str | None, case_page: bool, now: datetime,
           page_url: Callable[[str], str], links: Callable[[str], dict[str, str]],
           session: Session | None) -> list[dict[str, Any]]:
    """One entry per case shown, ordered by next date (see the module docstring)."""
    by_case: dict[str, list[FeedEvent]] = {}
    for e in snap.events:
        if only is None or e.case_id == only:
            by_case.setdefault(e.case_id, []).append(e)
    chosen = [cid for cid in snap.cases if only is None or cid == only]
    shown: dict[str, tuple[list[FeedEvent], list[FeedEvent]]] = {}
    for cid in chosen:
        tz = ZoneInfo(snap.cases[cid].timezone)
        evs = by_case.get(cid, [])
        up = [e for e in evs if upcoming(e, tz, now)]
        past = [e for e in reversed(evs) if e.date is not None
                and not upcoming(e, tz, now)][:PAST_ON_CASE_PAGE] if case_page else []
        shown[cid] = (up, past)
    moves: dict[str, str] = {}
    if session is not None:
        cut = None if case_page else UPCOMING_PER_CASE  # only the rows that are shown
        uids = [e.uid for up, past in shown.values() for e in [*up[:cut], *past]]
        moves = moved_from(session, uids, lambda c: ZoneInfo(snap.cases[c].timezone))
    out = []
    for cid in chosen:
        case = snap.cases[cid]
        tz = ZoneInfo(case.timezone)
        up, past = shown[cid]
        nxt = next((e for e in up if e.date is not None
                    and e.status in ("scheduled", "tentative")), None)
        rows = [row(e, tz, now, moves) for e in up[:None if case_page else UPCOMING_PER_CASE]]
        for r in rows:
            r["next"] = nxt is not None and r["uid"] == nxt.uid
        out.append({
            "case": case, "events": rows, "more": len(up) - len(rows),
            "past": [row(e, tz, now, moves) for e in past],
            "next": row(e=nxt, tz=tz, now=now, moved_from=moves) if nxt else None,
            "next_sort": nxt.sort_utc if nxt is not None else None,
            "updated": _updated(by_case.get(cid, []), case.updated_at, tz),
            "page": page_url(cid), "links": links(f"/calendars/{cid}.ics"),
        })
    far = now + timedelta(days=365 * 1000)

    def order(g: dict[str, Any]) -> tuple[bool, datetime, str]:
        return g["next_sort"] is None, g["next_sort"] or far, str(g["case"].title).lower()
    return sorted(out, key=order)


def base_url_warning(base_url: str, host: str) -> str | None:
    """Why links in pages, feeds and messages will not work for others, or None."""
    m = re.match(r"^https?://(\[[^\]]*\]|[^/:]*)", base_url)
    if m is None or m.group(1).lower() not in _LOCAL or host not in _ALL:
        return None
    return (f"[server] base_url is {base_url} but the server listens on all interfaces "
            f"({host or '0.0.0.0'}): links in pages, feeds and messages point at this "
            "machine's localhost and will not work elsewhere; set base_url to the address "
            "people use to reach it")


def base_url_port_warning(base_url: str, port: int) -> str | None:
    """Why links would reach another server on this machine (``base_url`` set to a
    localhost address with another port than the one listened on), or None."""
    try:
        parts = urlsplit(base_url)
        their = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not (host in _LOCAL or host.startswith("127.")) or their == port:
        return None
    return (f"[server] base_url is {base_url} but the server listens on port {port}: links "
            f"in pages, feeds and messages point at port {their}, not at this server; set "
            f"base_url to its port, or leave it unset to follow the port listened on")
