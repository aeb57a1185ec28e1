"""Fold a docket's entries into events: the pure half of a docket source.

Call :func:`fold` with the source's stored entries (any order: they are put in
docket order), the extractor and the review decisions. It returns the events the
entries add up to, with the provenance of each (the entry that last changed it),
and the uncertain facts that need a decision. No database, no network, no clock:
the same entries give the same events, so reading them again changes nothing.

The rules, applied entry by entry in docket order:

* ``set``: an open event of that kind on that date is confirmed (a stated time is
  filled in); otherwise a new event is added.
* ``reset``: the open event of that kind on ``from_date`` (when stated), else the
  nearest open one (the first on or after the filing date, else the latest) is
  moved; with none to move it is added as if set.
* ``vacated``: the matching open event (same kind and date; else any kind on that
  date; else the nearest of that kind) is cancelled.
* ``held``: the matching event is marked completed.
* ``deadline``: a deadline event on that date is added (or confirmed).

A fact the extractor is not sure of (``certain`` False) is never applied unless
accepted in review; a fact that matches nothing is left out and listed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from ..dockets.extract import Fact
from ..specs import EventSpec, When

Extractor = Callable[[str, "date | None"], list[Fact]]
OPEN = ("scheduled", "tentative")
QUOTE_MAX = 300


@dataclass(frozen=True)
class Entry:
    """One stored docket entry, as the fold needs it."""

    key: str  # upstream id, unique within the source
    number: str | None
    date_filed: date | None
    text: str
    link: str | None = None

    def order(self) -> tuple[date, int, str]:
        n = self.number or ""
        return (self.date_filed or date.min, int(n) if n.isdigit() else 1 << 40, self.key)


@dataclass(frozen=True)
class Provenance:
    """Where an event's current state comes from."""

    source: str
    entry_key: str
    number: str | None
    link: str | None
    date_filed: date | None
    quote: str

    def text(self) -> str:
        """``docket entry 12, filed 2027-02-01: “Status Conference set for …”``."""
        quote = self.quote if len(self.quote) <= QUOTE_MAX else self.quote[:QUOTE_MAX] + "…"
        num = f"docket entry {self.number}" if self.number else "docket entry"
        filed = f", filed {self.date_filed.isoformat()}" if self.date_filed else ""
        return f"{num}{filed}: “{quote}”"

    def notes(self) -> str:
        return "From " + self.text() + (f"\n{self.link}" if self.link else "")


@dataclass(frozen=True)
class Pending:
    """An uncertain fact waiting for review (or one that matched no event)."""

    entry: Entry
    fact: Fact

    @property
    def fact_key(self) -> str:
        return fact_key(self.fact)


@dataclass
class _Ev:
    event_id: str
    kind: str
    status: str
    day: date
    at: time | None
    prov: Provenance


@dataclass
class FoldResult:
    events: list[EventSpec] = field(default_factory=list)
    provenance: dict[str, Provenance] = field(default_factory=dict)  # by event UID
    review: list[Pending] = field(default_factory=list)  # uncertain, not decided
    unmatched: list[Pending] = field(default_factory=list)  # vacated/held with no event


def fact_key(fact: Fact) -> str:
    body = json.dumps({k: v for k, v in fact.as_json().items() if k != "certain"},
                      sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def fact_from_json(text: str) -> Fact:
    d = json.loads(text)
    return Fact(action=d["action"], kind=d["kind"], date=d.get("date"), time=d.get("time"),
                from_date=d.get("from_date"), quote=d.get("quote", ""), certain=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "x"


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _time(text: str | None) -> time | None:
    try:
        return time.fromisoformat(text) if text else None
    except ValueError:
        return None


class _Docket:
    """The events while the fold walks the entries."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.events: list[_Ev] = []
        self.ids: set[str] = set()

    def _open(self, kind: str | None) -> list[_Ev]:
        return [e for e in self.events if e.status in OPEN and (kind is None or e.kind == kind)]

    def on(self, kind: str | None, day: date) -> _Ev | None:
        return next((e for e in self._open(kind) if e.day == day), None)

    def nearest(self, kind: str, filed: date | None) -> _Ev | None:
        cands = sorted(self._open(kind), key=lambda e: e.day)
        if not cands:
            return None
        if filed is not None:
            later = [e for e in cands if e.day >= filed]
            if later:
                return later[0]
        return cands[-1]

    def add(self, kind: str, day: date, at: time | None, entry: Entry, prov: Provenance) -> None:
        # Named after the entry that created it, so a moved event keeps its UID; an
        # entry without a number (RSS minute entries) by a digest of its upstream id.
        tag = entry.number or hashlib.sha256(entry.key.encode()).hexdigest()[:10]
        base = f"{kind}-{_slug(tag)}"
        event_id, n = base, 1
        while event_id in self.ids:
            n += 1
            event_id = f"{base}-{n}"
        self.ids.add(event_id)
        self.events.append(_Ev(event_id, kind, "scheduled", day, at, prov))

    def apply(self, entry: Entry, fact: Fact) -> bool:
        """Apply one fact; False when it matched no event (vacated/held)."""
        prov = Provenance(self.source, entry.key, entry.number, entry.link, entry.date_filed,
                          fact.quote)
        day, at = _day(fact.date), _time(fact.time)
        kind = fact.kind
        if fact.action in ("set", "deadline"):
            if day is None:
                return False
            if fact.action == "deadline":
                kind = "deadline"
            ev = self.on(kind, day)
            if ev is None:
                self.add(kind, day, at, entry, prov)
            elif at is not None and ev.at != at:
                ev.at, ev.prov = at, prov
            return True
        if fact.action == "reset":
            if day is None:
                return False
            old = _day(fact.from_date)
            ev = (self.on(kind, old) if old else None) or self.nearest(kind, entry.date_filed)
            if ev is None:
                self.add(kind, day, at, entry, prov)
            elif (ev.day, ev.at) != (day, at):
                ev.day, ev.at, ev.prov = day, at, prov
            return True
        if fact.action in ("vacated", "held"):
            ev = None
            if day is not None:
                ev = self.on(kind, day) or self.on(None, day)
            if ev is None and day is None:
                ev = self.nearest(kind, entry.date_filed) if fact.action == "vacated" else \
                    self._last_before(kind, entry.date_filed)
            if ev is None:
                return False
            ev.status = "cancelled" if fact.action == "vacated" else "completed"
            ev.prov = prov
            return True
        return False

    def _last_before(self, kind: str, filed: date | None) -> _Ev | None:
        cands = sorted((e for e in self._open(kind) if filed is None or e.day <= filed),
                       key=lambda e: e.day)
        return cands[-1] if cands else None


def _label(kind: str) -> str:
    return kind.replace("_", " ").replace("-", " ").capitalize()


def fold(source: str, case_id: str, tz: ZoneInfo, entries: Iterable[Entry],
         extract: Extractor, decisions: Mapping[tuple[str, str], str],
         uid: Callable[[str, str], str], *, url: str | None = None,
         judge: str | None = None) -> FoldResult:
    """The events ``entries`` add up to (see the module docstring).

    ``decisions`` maps (entry key, fact key) to ``accepted`` or ``rejected``;
    ``uid(case_id, event_id)`` makes an event's UID.
    """
    docket = _Docket(source)
    out = FoldResult()
    for entry in sorted(entries, key=Entry.order):
        for fact in extract(entry.text, entry.date_filed):
            if not fact.certain:
                decided = decisions.get((entry.key, fact_key(fact)))
                if decided is None:
                    out.review.append(Pending(entry, fact))
                if decided != "accepted":
                    continue
                fact = replace(fact, certain=True)
            if not docket.apply(entry, fact):
                out.unmatched.append(Pending(entry, fact))
    for ev in docket.events:
        if ev.at is not None:
            start = datetime.combine(ev.day, ev.at, tz)
            when = When(date=ev.day, start=start.astimezone(ZoneInfo("UTC")))
        else:
            when = When(date=ev.day)
        event_uid = uid(case_id, ev.event_id)
        out.events.append(EventSpec(
            uid=event_uid, case_id=case_id, event_id=ev.event_id, kind=ev.kind,
            title=_label(ev.kind), status=ev.status, when=when, notes=ev.prov.notes(),
            url=url, judge=judge))
        out.provenance[event_uid] = ev.prov
    return out
