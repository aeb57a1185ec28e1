"""Change alerts for what one sync recorded, planned in bulk.

:func:`record_changes` (what :func:`notifier.notify.outbox.change_hook` runs inside
the sync's transaction) reads the touched events in one query per 500, writes one
alert per changed event and channel, and re-plans the events' reminders.

A *first import* (a new case, or a source or file adding its first events to a
case) is not news event by event: the events of one case and owner that were all
added by this sync, with nothing else of that owner in the case, give one
"Now tracking N events" alert per case and channel instead of N "added" alerts
(every event still has its own ``added`` history row and its reminders). A single
added event keeps its ordinary alert, which says more.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session

from ..specs import When
from ..store.models import Case, Change, Event, Notification
from ..tracking.apply import take_written
from ..tracking.diff import label
from . import bursts, planner, wording
from .subscriptions import planning as sub_planning

ET = Event.__table__  # type: ignore[attr-defined]
_CHUNK = 500
# (session, (event, case) pairs, scope uids) -> counts: outbox.reconcile.
Reconcile = Callable[[Session, list[tuple[Any, Case]], Sequence[str]], dict[str, int]]
# dedupe key, type, channel, due, now, payload, **kw -> an outbox row: outbox.new_row.
NewRow = Callable[..., dict[str, Any]]
NT = Notification.__table__  # type: ignore[attr-defined]


def _events(s: Session, uids: Sequence[str]) -> dict[str, Any]:
    """The events as they are now: as the sync just wrote them, else from the database."""
    fresh = take_written(s)
    out = {uid: fresh[uid] for uid in uids if uid in fresh}
    rest = [uid for uid in uids if uid not in out]
    for i in range(0, len(rest), _CHUNK):
        out.update((r.uid, r) for r in s.execute(
            select(ET).where(ET.c.uid.in_(rest[i:i + _CHUNK]))))
    return out


def _corrections(s: Session, by_event: dict[str, list[Change]], events: dict[str, Any],
                 cases: dict[str, Case]) -> dict[str, dict[str, list[str]]]:
    """uid -> channel -> notes about reminders already sent there that the changes
    made wrong (one query per 500 events whose date the changes invalidated)."""
    stale = {}
    for uid, chs in by_event.items():
        ev = events.get(uid)
        key = planner.invalidated_start(chs, ev) if ev is not None else None
        if key is not None and ev is not None and ev.case_id in cases:
            stale[uid] = key
    said: dict[str, dict[str, dict[str, list[datetime]]]] = {}  # uid -> channel -> was -> sent
    uids = list(stale)
    for i in range(0, len(uids), _CHUNK):
        sent = s.execute(select(NT.c.event_uid, NT.c.channel, NT.c.payload, NT.c.sent_at,
                                NT.c.due_at).where(
            NT.c.event_uid.in_(uids[i:i + _CHUNK]), NT.c.type == "reminder",
            NT.c.status == "sent").order_by(NT.c.id))
        for uid, channel, raw, sent_at, due_at in sent:
            payload = json.loads(raw)
            if payload.get("start_key") != stale[uid]:
                continue
            was = payload.get("event", {}).get("when", "the previous date")
            said.setdefault(uid, {}).setdefault(channel, {}).setdefault(was, []).append(
                sent_at or due_at)
    out: dict[str, dict[str, list[str]]] = {}
    for uid, by_channel in said.items():
        ev = events[uid]
        tz = ZoneInfo(cases[ev.case_id].timezone)
        now_is = wording.now_text(planner.when_of(ev).describe(tz), ev.status,
                                  ev.removed_at is not None)
        out[uid] = {ch: [wording.correction(days, was, label(ev.kind), now_is, tz)
                         for was, days in by_was.items()] for ch, by_was in by_channel.items()}
    return out


def _first_imports(s: Session, by_event: dict[str, list[Change]],
                   events: dict[str, Any]) -> dict[tuple[str, str], list[str]]:
    """(case id, owner) -> uids of the events this sync imported there first."""
    groups: dict[tuple[str, str], list[str]] = {}
    for uid, chs in by_event.items():
        ev = events.get(uid)
        if ev is not None and len(chs) == 1 and chs[0].kind == "added":
            groups.setdefault((ev.case_id, ev.source), []).append(uid)
    groups = {key: uids for key, uids in groups.items() if len(uids) >= 2}
    stored: dict[tuple[str, str], int] = {}
    case_ids = sorted({case_id for case_id, _source in groups})
    for i in range(0, len(case_ids), _CHUNK):  # every case's count in one query per 500
        stored.update(((case_id, source), n) for case_id, source, n in s.execute(
            select(ET.c.case_id, ET.c.source, func.count()).where(
                ET.c.case_id.in_(case_ids[i:i + _CHUNK])).group_by(ET.c.case_id, ET.c.source)))
    return {key: uids for key, uids in groups.items() if stored.get(key) == len(uids)}


def _tracking_rows(imports: dict[tuple[str, str], list[str]], events: dict[str, Any],
                   cases: dict[str, Case], by_event: dict[str, list[Change]], settings: Any,
                   now: datetime, new_row: NewRow) -> list[dict[str, Any]]:
    """One "Now tracking N events" row per imported case, owner and channel."""
    rows = []
    for (case_id, _source), uids in imports.items():
        case = cases[case_id]
        tz = ZoneInfo(case.timezone)
        per_channel: dict[str, list[Any]] = {}
        for uid in uids:
            ev = events[uid]
            if planner.is_over(planner.when_of(ev), tz, now):
                continue  # history, not news (as for any change to a past event)
            for ch in planner.routes(settings.channels, "change", case_id,
                                     planner.case_tags(case), ev.kind):
                per_channel.setdefault(ch, []).append(ev)
        first_id = min(c.id for uid in uids for c in by_event[uid] if c.id is not None)
        for ch, evs in per_channel.items():
            rows.append(new_row(f"tracking:{first_id}:{ch}", "change", ch, now, now,
                                _tracking_payload(case, evs, first_id, tz),
                                case_id=case_id, change_id=first_id))
    return rows


def _tracking_payload(case: Case, evs: list[Any], first_id: int,
                      tz: ZoneInfo) -> dict[str, Any]:
    dated = sorted((e for e in evs if e.sort_utc is not None), key=lambda e: e.sort_utc)
    undated = len(evs) - len(dated)
    span = "dates to be set"
    if dated:
        first, last = planner.when_of(dated[0]), planner.when_of(dated[-1])
        span = When(date=first.date, end_date=last.end_date or last.date).describe(tz)
    summary = f"Now tracking {len(evs)} events in {case.id}"
    if undated:
        summary += f"; {undated} with the date still to be set"
    nxt = (f"{dated[0].title}: {planner.when_of(dated[0]).describe(tz)}" if dated else None)
    # No event_uid on the row: the dispatcher sends this payload as it is.
    return {"event": {"case_id": case.id, "kind": "case", "title": case.title,
                      "case_title": case.title, "court": case.court, "judge": case.judge,
                      "timezone": case.timezone, "when": span, "location": None,
                      "url": None},
            "changes": [{"id": first_id, "kind": "tracking", "field": "case",
                         "summary": summary, "before": None, "after": None}],
            "corrections": [], "case_next": nxt, "tracking": len(evs)}


def record_changes(s: Session, changes: Sequence[Change], settings: Any, now: datetime, *,
                   alerts: bool, new_row: NewRow, insert_rows: Callable[..., None],
                   reconcile: Reconcile) -> dict[str, int]:
    """Write change alerts for ``changes`` and re-plan the reminders of their events.

    ``alerts=False`` (a baseline import) only re-plans the reminders."""
    s.flush()
    by_event: dict[str, list[Change]] = {}
    for c in changes:
        by_event.setdefault(c.event_uid, []).append(c)
    events = _events(s, list(by_event))
    cases: dict[str, Case] = {}
    for ev in events.values():
        if ev.case_id not in cases:
            case = s.get(Case, ev.case_id)
            if case is not None:
                cases[ev.case_id] = case
    pairs: list[tuple[Any, Case]] = []
    rows: list[dict[str, Any]] = []
    planned: list[planner.PlannedAlert] = []  # each gives a row per follower of the case
    imports = _first_imports(s, by_event, events) if alerts else {}
    if imports:
        rows += _tracking_rows(imports, events, cases, by_event, settings, now, new_row)
    imported = {uid for uids in imports.values() for uid in uids}
    corrections = _corrections(s, by_event, events, cases) if alerts else {}
    for uid, chs in by_event.items():
        ev = events.get(uid)
        case = cases.get(ev.case_id) if ev is not None else None
        if ev is None or case is None:
            continue
        pairs.append((ev, case))
        if not alerts or uid in imported:
            continue
        tz = ZoneInfo(case.timezone)
        fixes = corrections.get(uid, {})
        over_before = all(planner.is_over(When.from_json(c.before), tz, now)
                          for c in chs if c.field == "when")
        if not fixes and over_before and planner.is_over(planner.when_of(ev), tz, now):
            # A change to an event that was and still is over is history, not news
            # (first import of past dates, a court tidying old entries): no alert.
            continue
        alert = planner.plan_alert(chs, ev, case, now)
        chans = planner.routes(settings.channels, "change", case.id, planner.case_tags(case),
                               ev.kind)
        for ch in [*chans, *(c for c in fixes if c not in chans)]:
            payload = {**alert.payload, "corrections": fixes.get(ch, [])}
            rows.append(new_row(alert.key(ch), "change", ch, now, now, payload, event_uid=uid,
                                case_id=case.id, change_id=alert.change_ids[0],
                                urgent=alert.urgent))
        planned.append(alert)
    rows = bursts.group(s, rows, now)
    insert_rows(s, rows)
    insert_rows(s, sub_planning.alert_rows(s, settings, planned, now))
    counts = reconcile(s, pairs, list(by_event))
    sub_planning.plan_reminders(s, settings, now, {c.id for _e, c in pairs})
    return {"alerts": len(rows), **counts}
