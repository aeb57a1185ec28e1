"""The rules that turn one docket entry into scheduling facts.

Call :func:`facts_in`: it finds every date (:mod:`.dates`), splits the entry into
clauses, and reads each date by the verb nearest before it ("set for", "continued
to", "held on", "due by") or the words right after it ("is VACATED"). A date with no
scheduling verb governing it (a filing date, "Signed on", "(Entered: ...)") gives no
fact; a fact the rules are unsure of comes back with ``certain=False``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, timedelta

from .dates import DateHit, find_dates, lower
from .phrases import (
    CONTINUED_RE,
    FILING_SUBJECT,
    FROM_BEFORE,
    HEADING_RE,
    LIST_GAP,
    MOVE_AFTER,
    NOTICE_LEAD,
    PAPERWORK_BEFORE,
    PAPERWORK_HINTS,
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
_CONTINUED_HINTS = ("continu", "adjourn", "reschedul", "reset", "proceedings")
_QUICK_SKIP = re.compile(
    r"(?:\(entered|service\s+date|signed(?:\s+on)?|filed(?:\s+on)?|dated|modified\s+on)"
    r"\s*:?\s*\Z", re.IGNORECASE)
_TO_ONLY = re.compile(r"\A\s*to\s*\Z", re.IGNORECASE)
_MOVING = re.compile(r"\bresett?ing\b|\bre-?set\b|\bcontinu|\breschedul|\bmoved\b|\badjourn")
_VOID = re.compile(r"entered in error|filed in error|docketed in error|wrong event|"
                   r"disregard this entry")
_NEAR = 110  # how far before a date its governing verb may stand
_KIND_WINDOW = 300  # how far before its verb an event's name may start


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
            seg = text[max(0, m.start() - 24):m.start()].split()
            word = seg[-1].lstrip("([{\"'").lower().rstrip(".") if seg else ""
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


def _close(gap: str) -> bool:
    """Whether a verb still governs a date this far after it (no aside in between)."""
    # "Schedule for Sentence on or after 8/13/2012" names no date of an event.
    return len(gap) <= 80 and "(" not in gap and ")" not in gap and "or after" not in gap


def _verb(near: str, low: str) -> tuple[str, int, int] | None:
    """The scheduling verb nearest the end of ``near`` (``low``: it lower-cased)."""
    best: tuple[str, int, int] | None = None
    for action, hints, pattern in VERBS:
        if not any(h in low for h in hints):
            continue
        for m in pattern.finditer(near):
            # Ties go to the shorter match: "Trial Setting set for" is governed by "set for".
            if best is None or m.end() > best[2] or (m.end() == best[2] and m.start() > best[1]):
                best = (action, m.start(), m.end())
    return best


def facts_in(text: str, filed: date | None) -> list[RawFact]:
    """Every fact ``text`` states, in order."""
    # Headings become spaces so offsets (and quotes) still index the original text.
    low = lower(text)
    work = text
    if "set/reset" in low:
        work = HEADING_RE.sub(lambda m: " " * len(m.group()), text)
    hits = find_dates(work, filed, low)
    if not hits:
        return []
    bounds = _boundaries(work)
    if _VOID.search(low, 0, 200):
        return []  # the clerk marked the entry void; whatever it says is not so
    request = REQUEST_RE.match(text) is not None
    out: list[RawFact] = []
    pending: tuple[DateHit, str | None] | None = None  # a "from" date and its verb
    last_hit = -1  # the hit the last fact came from
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
        if _QUICK_SKIP.search(near[-24:]):
            continue  # "(Entered: ...)", "Signed on ...": the commonest dates, never facts
        verb = _verb(near, low[nstart:hit.start])
        cut = max(0, len(near) - 100)
        paper = None
        near_low = low[nstart + cut:hit.start]
        if any(h in near_low for h in PAPERWORK_HINTS):
            paper = PAPERWORK_BEFORE.search(near, cut)
        if paper and (verb is None or paper.start() >= verb[2]):
            continue
        if FROM_BEFORE.search(near[-40:]):
            moving = "reset" if _MOVING.search(low, nstart, hit.start) else None
            pending = (hit, verb[0] if verb else moving)
            continue
        same_clause_next = i + 1 < len(hits) and _clause_start(bounds, hits[i + 1].start) == cstart
        if same_clause_next and (MOVE_AFTER.match(right) or (
                _TO_ONLY.match(right) and _MOVING.search(low, cstart, hit.start))):
            # "set for 10/1 is continued to 11/1", "resetting Trial now set for 11/18 to
            # 1/27": this date is the old one.
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
            if not _close(near[verb[2]:]):
                continue
            action = verb[0]
            # The verb itself may name the event ("Hearing Date:", "hearing On:").
            kind_text = work[max(cstart, nstart + verb[2] - _KIND_WINDOW):nstart + verb[2]] or near
            if action == "set" and VACATE_BEFORE.search(work[cstart:nstart + verb[1]]):
                action = "vacated"
        elif NOTICE_LEAD.match(work[:hit.start]):
            action, kind_text = "set", work[:hit.start]
        elif pending is not None and pending[1] is not None and TO_BEFORE.match(near):
            # Only after a scheduling verb: "Time excluded from 12/23/03 to 3/1/04" is not.
            action = "reset" if pending[1] == "set" else pending[1]
            kind_text = work[cstart:pending[0].start]
        else:
            if out and last_hit == i - 1 and LIST_GAP.match(work[prev_end:hit.start]):
                # The next date of a list takes the fact of the one before it.
                prev = out[-1]
                out.append(replace(prev, date=hit.date.isoformat(), time=hit.time,
                                   from_date=None, quote=text[cstart:hit.end].strip()
                                   or prev.quote))
                last_hit = i
            continue
        if action == "reset" and pending is not None:
            from_date = pending[0].date.isoformat()
        if action != "reset":
            pending = None
        if request and action in ("reset", "vacated", "deadline"):
            continue  # a motion or stipulation asks for this; nothing is decided yet
        certain = True
        subject = kind_of(kind_text)
        if action == "set" and subject is None and FILING_SUBJECT.search(kind_text):
            action = "deadline"
        if action == "deadline":
            kind = "deadline"
        else:
            found = subject or kind_of(right[:60])
            if found is None:
                # Only the entry's heading names the event ("Hearing held on 6/4. ...
                # PASSED BY COURT TO 7/2"): likely, not sure.
                found, certain = kind_of(work[:cstart]) or "other", False
            kind = found
        if action == "held" and filed is not None and hit.date > filed + timedelta(days=1):
            certain = False
        quote = text[cstart:qend].strip()
        last_hit = i
        out.append(RawFact(action, kind, hit.date.isoformat(), hit.time, from_date, quote,
                           certain))
    if not request:
        out = _continued(text, low, out)
    return _dedupe(out)


def _continued(text: str, low: str, facts: list[RawFact]) -> list[RawFact]:
    """Under a "Hearing Continued" heading, the date an entry then sets is a reset."""
    if not any(h in low for h in _CONTINUED_HINTS):
        return facts  # the full pattern is slow; most entries have none of its verbs
    marks = []
    for m in CONTINUED_RE.finditer(low):
        if m.group("ev2"):
            # "341 Meeting Continued", "Pre-trial Conference adjourned": the words before.
            marks.append(kind_of(low[max(0, m.start() - 30):m.end("ev2")]))
        else:
            marks.append(kind_of(m.group("ev") or m.group("ev3") or ""))
    if not marks:
        return facts
    out = []
    for f in facts:
        if f.action == "set":
            for mk in marks:
                if mk is None or mk == f.kind or f.kind in ("hearing", "other"):
                    f = replace(f, action="reset",
                                kind=mk if mk and f.kind in ("hearing", "other") else f.kind)
                    break
        out.append(f)
    return out


def _dedupe(facts: list[RawFact]) -> list[RawFact]:
    """One fact per action, date and kind; a restatement fills in a missing kind or time."""
    out: list[RawFact] = []
    for f in facts:
        i = next((n for n, o in enumerate(out) if (o.action, o.date) == (f.action, f.date)
                  and f.action != "deadline"
                  and (o.kind == f.kind or "other" in (o.kind, f.kind))), None)
        if i is None:
            out.append(f)
            continue
        old = out[i]
        if old.kind == "other" and f.kind != "other":
            old = replace(old, kind=f.kind, certain=f.certain)
        if old.time is None and f.time is not None:
            old = replace(old, time=f.time)
        out[i] = old
    return out
