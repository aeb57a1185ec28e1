"""The words of docket entries: event kinds, scheduling verbs, and what is not a fact.

:func:`kind_of` names the event a phrase is about ("Final Pretrial Conference" is a
conference, "Change of Plea Hearing" a plea); :data:`VERBS` are the scheduling verbs
in the order their ties are broken; the other patterns mark requests ("MOTION to
continue ...") and boilerplate that mentions dates without stating a fact.
"""

from __future__ import annotations

import re

# The head noun of an event's name: the last one before the verb names the event.
KIND_RE = re.compile(
    r"\b(?:(?P<sentencing>re-?sentencing|sentencing)"
    r"|(?P<arraignment>re-?arraignment|arraignment)"
    r"|(?P<plea>change\s+of\s+plea|plea(?!\s+agreement\b)|rule\s+11)"
    r"|(?P<meeting>341(?:\(a\))?|meeting\s+of\s+creditors)"
    r"|(?P<trial>trial(?!\s+(?:setting|scheduling|status|readiness|confirmation))|jury\s+selection|voir\s+dire)"
    r"|(?P<conference>conferences?)"
    r"|(?P<hearing>hearings?|oral\s+argument|preliminary\s+examination|examination\s+of\s+debtor"
    r"|show\s+cause|competency)"
    r"|(?P<other>initial\s+appearance|appearance|mediation|status(?!\s+(?:report|conference|hearing))"
    r"|motions?\s+calendar|calendar\s+call|docket\s+call|proceeding))\b",
    re.IGNORECASE,
)
# A specific kind wins over a generic head noun right after it ("Sentencing Hearing").
SPECIFIC = ("sentencing", "arraignment", "plea", "meeting")
GENERIC = ("hearing", "conference", "other")


def kind_of(phrase: str) -> str | None:
    """The kind of the event ``phrase`` names last, or None when it names none."""
    found = list(KIND_RE.finditer(phrase))
    if not found:
        return None
    last = found[-1]
    kind = last.lastgroup or "other"
    if kind in GENERIC:
        # "Sentencing Hearing", "Change of Plea Hearing": look one noun phrase back.
        for prev in reversed(found[:-1]):
            between = phrase[prev.end():last.start()]
            if len(between) > 12 or re.search(r"[,;:.]|\band\b|\bor\b", between):
                break
            if prev.lastgroup in SPECIFIC:
                return prev.lastgroup
    return kind


# Scheduling verbs, by action, in tie-break order (the later a verb ends, the nearer it
# is to the date and the more it governs it).
VERBS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("deadline", re.compile(
        r"\bdue\b(?:\s+(?:by|on|date|no\s+later\s+than|on\s+or\s+before))?"
        r"|\bdeadlines?\b(?:\s+(?:is|of|set|for|by|extended|to|date))*"
        r"|\bshall\s+(?:be\s+)?(?:file|filed|serve|served|respond|submit|submitted)\b[^.;]{0,80}?"
        r"\b(?:by|on\s+or\s+before|no\s+later\s+than)"
        r"|\bmust\s+be\s+(?:filed|served|submitted)\b[^.;]{0,40}?\b(?:by|on\s+or\s+before)"
        r"|\bextended\s+(?:to|until)|\bno\s+later\s+than", re.IGNORECASE)),
    ("reset", re.compile(
        r"\b(?:re-?set|continued|rescheduled|re-?scheduled|postponed|advanced|moved|"
        r"changed|re-?noticed|re-?calendared)\b(?:\s+(?!set\b)[\w.]+){0,3}?\s*"
        r"(?:to|for|until|till|on|:)?", re.IGNORECASE)),
    ("held", re.compile(
        r"(?<!be\s)(?<!been\s)\bheld\b(?:\s+(?:in\s+chambers|by\s+telephone|"
        r"telephonically|via\s+\w+))?\s*(?:on|:)?", re.IGNORECASE)),
    ("set", re.compile(
        r"\bset\b(?!\s+forth)(?:\s+(?:for|on|at|to|:))?(?:\s+(?:the|a|hearing|trial))?"
        r"|\bsetting\b(?:[^.;:]{0,80}?\b(?:for|on)\b)?|\bscheduled\b(?:\s+(?:for|on))?"
        r"|\b(?:will|shall|to)\s+(?:be\s+)?(?:held|heard|conducted|commence|begin|proceed|"
        r"take\s+place)\b(?:\s+(?:on|at))?"
        r"|\bnoticed\s+for|\bcalendared\s+for|\bset\s+down\s+for", re.IGNORECASE)),
)

# A date followed by one of these is the date of an event being cancelled or moved.
VACATE_AFTER = re.compile(
    r"\A[^.;]{0,60}?\b(?:is|are|be|been|was|were|hereby|shall\s+be|to\s+be)\s+"
    r"(?:hereby\s+|now\s+|therefore\s+)?(?:vacated|cancel+ed|stricken|terminated|"
    r"taken\s+off\s+(?:the\s+)?calendar|withdrawn)\b"
    r"|\A[\s,]*(?:[-:]\s*)?(?:vacated|cancel+ed|stricken|terminated)\b",
    re.IGNORECASE)
MOVE_AFTER = re.compile(
    r"\A[^.;]{0,60}?\b(?:is|are|be|been|was|were|hereby|shall\s+be)\s+(?:hereby\s+|now\s+)?"
    r"(?:vacated\s+and\s+)?(?:continued|reset|re-set|rescheduled|moved|advanced|postponed|changed)\b"
    r"|\A[\s,]*(?:(?:has\s+been|is)\s+)?(?:continued|reset|rescheduled|moved)\s+(?:to|until)\b",
    re.IGNORECASE)
VACATE_BEFORE = re.compile(
    r"\b(?:vacat(?:ed|ing|e)|cancel+(?:ed|ing)|strik(?:ing|en)|terminat(?:ed|ing)|"
    r"off\s+(?:the\s+)?calendar)\b", re.IGNORECASE)
FROM_BEFORE = re.compile(
    r"\b(?:from|previously\s+set\s+for|originally\s+set\s+for)\s*(?:the\s+)?\Z", re.IGNORECASE)
TO_BEFORE = re.compile(r"\A[\s,]*(?:to|until|till)\s+(?:the\s+)?\Z", re.IGNORECASE)
# Dates that only record paperwork, never an event.
PAPERWORK_BEFORE = re.compile(
    r"(?:\b(?:entered|filed|signed|dated|docketed|received|served|mailed|issued|executed|"
    r"returned|stamped|e-?mailed|faxed|sent|transmitted|notified|generated|submitted)\b"
    r"[^.;()]{0,60}?(?:\bon|:)?|\bdate\s+(?:filed|entered|of\s+(?:entry|service|birth))[:\s]*"
    r"|\b(?:order|minute\s+order|letter|notice|memorandum|stipulation|transcript)\s+(?:of\s+)?"
    r"(?:dated\s+)?)\s*\Z",
    re.IGNORECASE)
# Entries that ask for a change rather than record one.
REQUEST_RE = re.compile(
    r"\A[\W\d]*(?:(?:joint|unopposed|consent(?:ed)?|emergency|ex\s+parte|amended|second|"
    r"renewed|stipulated)\s+)*(?:motion|stipulation|request|application|proposed|"
    r"\[proposed\]|letter|response|reply|memorandum|brief|objection|opposition|"
    r"declaration|affidavit|notice\s+of\s+motion)\b",
    re.IGNORECASE)
# "Set/Reset Hearings:" and the like are ECF headings, not verbs.
HEADING_RE = re.compile(
    r"\bset/reset\s+(?:hearings?|deadlines?(?:/hearings)?|scheduling\s+order\s+deadlines?)"
    r"(?:\s+as\s+to\s+[^:]{0,120})?\s*:?", re.IGNORECASE)
