"""The rules that turn one docket entry into scheduling facts.

Call :func:`facts_in`: it finds every date (:mod:`.dates`), splits the entry into
clauses, and reads each date by the verb nearest before it ("set for", "continued
to", "held on", "due by") or the words right after it ("is VACATED"). A date with no
scheduling verb governing it (a filing date, "Signed on", "(Entered: ...)") gives no
fact; a fact the rules are unsure of comes back with ``certain=False``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from .dates import DateHit, find_dates
from .phrases import (
    FROM_BEFORE,
    HEADING_RE,
    MOVE_AFTER,
    PAPERWORK_BEFORE,
    REQUEST_RE,
    TO_BEFORE,
    VACATE_AFTER,
    VACATE_BEFORE,
    VERBS,
    kind_of,
)

# Sentence and clause ends; a period after an abbreviation ("a.m.", "Jan.", "No.")
# does not end a clause (checked in _boundaries).
_END_RE = re.compile(r"[.;!?](?=[\s)\]]|\Z)|\n|:(?=\s*[A-Za-z])|\(Entered")
_ABBREV_WORDS = (
    "m no nos jan feb mar apr jun jul aug sep sept oct nov dec mr ms mrs dr "
    "inc co corp ltd llc v vs u.s s.d n.d e.d w.d d.c cv cr civ crim st hon jr sr ct rm "
    "esq ex al et seq p.c l.l.c u.s.c u.s.a")
_ABBREV = frozenset(_ABBREV_WORDS.split())
_WORD_BEFORE = re.compile(r"([\w.]+)\Z")
_NEAR = 110  # how far before a date its governing verb may stand


@dataclass(frozen=True)
class RawFact:
    """A fact before it becomes a :class:`~notifier.dockets.extract.Fact`."""

    action: str
    kind: str
    date: str | None
    time: str | None
    from_date: str | None
    quote: str
    certain: bool


def _boundaries(text: str) -> list[int]:
    out = [0]
    for m in _END_RE.finditer(text):
        ch = m.group()
        if ch == ".":
            w = _WORD_BEFORE.search(text, 0, m.start())
            word = w.group(1).lower().rstrip(".") if w else ""
            if word in ("a.m", "p.m"):
                # "at 9:00 a.m. before Judge X" goes on; "at 9:00 a.m. Motions due" ends.
                if not re.match(r"\s*[A-Z]", text[m.end():m.end() + 3]):
                    continue
            elif word in _ABBREV or len(word) == 1:
                continue
        out.append(m.end() if ch != "(Entered" else m.start())
    return out


def _clause_start(bounds: list[int], pos: int) -> int:
    start = 0
    for b in bounds:
        if b > pos:
            break
        start = b
    return start


def _clause_end(bounds: list[int], pos: int, limit: int) -> int:
    for b in bounds:
        if b > pos:
            return min(b, limit)
    return limit


def _verb(near: str) -> tuple[str, int, int] | None:
    """The scheduling verb nearest the end of ``near``: (action, start, end)."""
    best: tuple[str, int, int] | None = None
    for action, pattern in VERBS:
        for m in pattern.finditer(near):
            if best is None or m.end() > best[2] or (m.end() == best[2] and m.start() < best[1]):
                best = (action, m.start(), m.end())
    return best


def facts_in(text: str, filed: date | None) -> list[RawFact]:
    """Every fact ``text`` states, in order."""
    # Headings become spaces so offsets (and quotes) still index the original text.
    work = HEADING_RE.sub(lambda m: " " * len(m.group()), text)
    hits = find_dates(work, filed)
    if not hits:
        return []
    bounds = _boundaries(work)
    request = REQUEST_RE.match(text) is not None
    out: list[RawFact] = []
    seen: set[tuple[str, str, str]] = set()
    pending: tuple[DateHit, str | None] | None = None  # a "from" date and its verb
    for i, hit in enumerate(hits):
        cstart = _clause_start(bounds, hit.start)
        prev_end = hits[i - 1].end if i else 0
        nstart = max(cstart, prev_end, hit.start - _NEAR)
        near = work[nstart:hit.start]
        nxt = hits[i + 1].start if i + 1 < len(hits) else len(work)
        rend = _clause_end(bounds, hit.date_end, nxt)
        right = work[hit.end:rend]
        if pending and pending[0].start < cstart:
            pending = None
        verb = _verb(near)
        paper = PAPERWORK_BEFORE.search(near)
        if paper and (verb is None or paper.end() >= verb[2]):
            continue
        if FROM_BEFORE.search(near):
            pending = (hit, verb[0] if verb else None)
            continue
        same_clause_next = i + 1 < len(hits) and _clause_start(bounds, hits[i + 1].start) == cstart
        if same_clause_next and MOVE_AFTER.match(right):
            pending = (hit, "reset")
            continue
        vac = VACATE_AFTER.match(right)
        from_date: str | None = None
        qend = hit.end
        if vac:
            action = "vacated"
            qend = hit.end + vac.end()
            kind_text = work[cstart:hit.start]
        elif verb is not None:
            action = verb[0]
            kind_text = work[cstart:nstart + verb[1]] or near
            if action == "set" and VACATE_BEFORE.search(work[cstart:nstart + verb[1]]):
                action = "vacated"
        elif pending is not None and TO_BEFORE.match(near):
            action = pending[1] or "reset"
            if action == "set":
                action = "reset"
            kind_text = work[cstart:pending[0].start]
        else:
            continue
        if action == "reset" and pending is not None:
            from_date = pending[0].date.isoformat()
        if action != "reset":
            pending = None
        if request and action in ("reset", "vacated", "deadline"):
            continue  # a motion or stipulation asks for this; nothing is decided yet
        certain = True
        if action == "deadline":
            kind = "deadline"
        else:
            found = kind_of(kind_text) or kind_of(right[:60])
            if found is None:
                found, certain = "other", False
            kind = found
        if action == "held" and filed is not None and hit.date > filed + timedelta(days=1):
            certain = False
        quote = text[cstart:qend].strip()
        key = (action, kind, hit.date.isoformat())
        if key in seen:
            continue
        seen.add(key)
        out.append(RawFact(action, kind, hit.date.isoformat(), hit.time if action != "deadline"
                           or hit.time else None, from_date, quote, certain))
    return out
