"""Pure change classification: old event state vs new spec -> typed changes.

Call :func:`classify`. No database: it takes a snapshot of the stored event
(:class:`Snapshot`) and the new :class:`~notifier.specs.EventSpec`, and returns
:class:`Delta` items with before/after values and a one-line summary such as
``Hearing moved later: Wed 2 Jul 2025 -> Wed 9 Jul 2025``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

from ..specs import EventSpec, When

STATUS_KINDS = {"cancelled": "cancelled", "postponed": "postponed", "completed": "completed"}


@dataclass(frozen=True)
class Snapshot:
    """The fields of a stored event that changes are detected on."""

    kind: str
    title: str
    status: str
    when: When
    location: str | None
    judge: str | None
    notes: str | None
    url: str | None


@dataclass(frozen=True)
class Delta:
    kind: str  # added, rescheduled_earlier, rescheduled_later, time_changed, date_set, ...
    field: str
    before: str | None  # JSON
    after: str | None  # JSON
    summary: str


def snapshot_of(spec: EventSpec) -> Snapshot:
    return Snapshot(kind=spec.kind, title=spec.title, status=spec.status, when=spec.when,
                    location=spec.location, judge=spec.judge, notes=spec.notes, url=spec.url)


@cache  # one per event of an import; kinds are few
def label(kind: str) -> str:
    return kind.replace("_", " ").replace("-", " ").capitalize()


def _j(value: object) -> str:
    return json.dumps(value)


def added(spec: EventSpec, tz: ZoneInfo) -> Delta:
    text = spec.when.describe(tz)
    return Delta("added", "event", None, spec.when.to_json(),
                 f"{label(spec.kind)} added: {text} ({spec.status})")


def removed(old: Snapshot, tz: ZoneInfo, where: str) -> Delta:
    return Delta("removed", "event", old.when.to_json(), None,
                 f"{label(old.kind)} removed from {where}: was {old.when.describe(tz)}")


def restored(spec: EventSpec, tz: ZoneInfo) -> Delta:
    return Delta("restored", "event", None, spec.when.to_json(),
                 f"{label(spec.kind)} restored: {spec.when.describe(tz)}")


def _when_delta(old: When, new: When, kind: str, tz: ZoneInfo) -> Delta | None:
    if old == new:
        return None
    before, after = old.describe(tz), new.describe(tz)
    name = label(kind)
    bj, aj = old.to_json(), new.to_json()
    if not old.dated and new.dated:
        return Delta("date_set", "when", bj, aj, f"{name} date set: {before} -> {after}")
    if old.dated and not new.dated:
        return Delta("date_unset", "when", bj, aj, f"{name} date withdrawn: {before} -> {after}")
    assert old.date is not None and new.date is not None
    if old.date == new.date:
        return Delta("time_changed", "when", bj, aj, f"{name} time changed: {before} -> {after}")
    if new.date < old.date:
        return Delta("rescheduled_earlier", "when", bj, aj,
                     f"{name} moved earlier: {before} -> {after}")
    return Delta("rescheduled_later", "when", bj, aj, f"{name} moved later: {before} -> {after}")


def classify(old: Snapshot, new: EventSpec, tz: ZoneInfo) -> list[Delta]:
    """Every difference between a stored event and its new spec, most important first."""
    out: list[Delta] = []
    name = label(new.kind)
    when = _when_delta(old.when, new.when, new.kind, tz)
    if when:
        out.append(when)
    if old.status != new.status:
        implied = (
            (when is not None and when.kind == "date_set" and old.status == "tbd")
            or (when is not None and when.kind == "date_unset" and new.status == "tbd")
        )
        if not implied:
            kind = STATUS_KINDS.get(new.status, "status_changed")
            verb = {"cancelled": "cancelled", "postponed": "postponed",
                    "completed": "completed"}.get(new.status)
            text = (f"{name} {verb}: {old.status} -> {new.status}" if verb
                    else f"{name} status changed: {old.status} -> {new.status}")
            out.append(Delta(kind, "status", _j(old.status), _j(new.status), text))
    for fld, kind in (("location", "location_changed"), ("judge", "judge_changed"),
                      ("title", "title_changed")):
        a, b = getattr(old, fld), getattr(new, fld)
        if a != b:
            out.append(Delta(kind, fld, _j(a), _j(b),
                             f"{name} {fld} changed: {a or '(none)'} -> {b or '(none)'}"))
    for fld in ("kind", "notes", "url"):
        a, b = getattr(old, fld), getattr(new, fld)
        if a != b:
            shown_a = a if fld != "notes" else "(previous notes)" if a else "(none)"
            shown_b = b if fld != "notes" else "(new notes)" if b else "(none)"
            out.append(Delta("details_changed", fld, _j(a), _j(b),
                             f"{name} {fld} changed: {shown_a or '(none)'} -> "
                             f"{shown_b or '(none)'}"))
    return out
