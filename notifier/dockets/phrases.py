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
    r"\b(?:(?P<sentencing>re-?sentencing|sentencing|sentence(?!\s+(?:of|to|reduction)))"
    r"|(?P<arraignment>re-?arraignment|arraignment)"
    r"|(?P<plea>change\s+of\s+plea|plea(?!\s+agreement\b)|rule\s+11)"
    r"|(?P<meeting>341(?:\(a\))?|meeting\s+of\s+creditors)"
    r"|(?P<trial>trial(?!\s+(?:setting|scheduling|status|readiness|confirmation))|jury\s+selection|voir\s+dire)"
    r"|(?P<conference>pre-?trial(?!\s+(?:motions?|statements?|orders?|memorand\w*|briefs?|"
    r"services|release|disclosures?|detention))|conferences?|conf\b|prehrg\s+conf)"
    r"|(?P<hearing>hearings?|hrg|oral\s+argument|preliminary\s+examination|examination\s+of\s+debtor"
    r"|show\s+cause|competency)"
    r"|(?P<other>initial\s+appearance|appearance|mediation|status(?!\s+(?:report|conference|hearing))"
    r"|motions?\s+calendar|calendar\s+call|docket\s+call|presentment))\b",
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


# Scheduling verbs: (action, hints, pattern). A pattern runs only when one of its
# lower-case hints is in the text (a substring test is ~50x cheaper than the regex).
# Among all matches the one ending nearest the date governs it.
_I = re.IGNORECASE
VERBS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    ("deadline", ("due", "deadline", "shall", "must", "extended", "later"), re.compile(
        r"\bdue\b(?:\s+(?:by|on|date|no\s+later\s+than|on\s+or\s+before))?"
        r"|\bdeadlines?\b(?:\s+(?:is|of|set|for|by|extended|to|date))*"
        r"|\bshall\s+(?:be\s+)?(?:file|filed|serve|served|respond|submit|submitted)\b[^.;]{0,80}?"
        r"\b(?:by|on\s+or\s+before|no\s+later\s+than)"
        r"|\bmust\s+be\s+(?:filed|served|submitted)\b[^.;]{0,40}?\b(?:by|on\s+or\s+before)"
        r"|\bextended\s+(?:to|until)|\bno\s+later\s+than", _I)),
    ("reset", ("set", "contin", "sched", "postpon", "advanc", "moved", "adjourn", "chang",
               "notic", "calend", "passed"), re.compile(
        r"\b(?:re-?set|continued|rescheduled|re-?scheduled|postponed|advanced|moved|adjourned|"
        r"changed|re-?noticed|re-?calendared|passed(?:\s+by\s+(?:the\s+)?court)?(?=\s+to\b))\b"
        r"(?:\s+(?!set\b)[\w.'-]+){0,3}?\s*"
        r"(?:to|for|until|till|on|:)?"
        r"|\b(?:adjourning|adjournment\s+of|continuing|rescheduling|resetting)\b"
        r"(?:\s+(?!set\b)[\w.'-]+){0,5}?\s+(?:to|until)\b", _I)),
    ("vacated", ("not",), re.compile(r"\bnot\s+held\b(?:\s+on)?", _I)),
    ("held", ("held", "minute"), re.compile(
        r"\bminute\s+entry\s+in\s+reference\s+to\s+hearing\s+on\s*:?"
        r"|(?<!be\s)(?<!been\s)(?<!not\s)\bheld\b(?:\s+(?:in\s+chambers|by\s+telephone|"
        r"telephonically|via\s+\w+))?\s*(?:on|:)?", _I)),
    ("set", ("set",), re.compile(
        r"\bset\b(?!\s+forth)(?:\s+(?:for|on|at|to|:))?(?:\s+(?:the|a|hearing|trial))?"
        r"|\bset\s+down\s+for", _I)),
    ("set", ("setting", "scheduling"), re.compile(
        r"\b(?:setting|scheduling)\b(?:(?:(?!\bheld\b)[^.;:]){0,80}?\b(?:for|on)\b)?"
        r"|\bscheduling\s+an?\s+(?:[\w-]+\s+){0,3}?hearing\s*[-:]", _I)),
    ("set", ("sch",), re.compile(
        r"\b(?:scheduled?\b|schd\b\.?|sched\.)(?:\s+(?:for|on)(?!\s+or\s+(?:after|before)))?",
        _I)),
    ("set", ("hold",), re.compile(r"\bwill\s+hold\s+(?:a|an|the)\b[^.;]{0,60}?\bon\b", _I)),
    ("set", (":",), re.compile(
        r"(?<!of\s)\b(?:confirmation\s+|status\s+|motion\s+)?(?:hearing|conference|trial)"
        r"(?:\s+date)?\s*(?:is\s*)?:", _I)),
    ("set", ("will", "shall", "to"), re.compile(
        r"\b(?:will|shall|to)\s+(?:be\s+)?(?:held|heard|conducted|commence|begin|proceed|"
        r"take\s+place)\b(?:\s+(?:on|at))?", _I)),
    ("set", ("noticed", "calendared"), re.compile(r"\b(?:noticed|calendared)\s+for", _I)),
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
    r"returned|stamped|modified|corrected|e-?mailed|faxed|sent|transmitted|notified|generated|submitted)\b"
    r"[^.;()]{0,60}?(?:\bon|:)?|\bdate\s+(?:filed|entered|of\s+(?:entry|service|birth))[:\s]*"
    r"|\b(?:order|minute\s+order|letter|notice|memorandum|stipulation|transcript)\s+(?:of\s+)?"
    r"(?:dated\s+)?)\s*\Z",
    re.IGNORECASE)
PAPERWORK_HINTS = ("enter", "file", "sign", "date", "docket", "receiv", "serv", "mail", "issu",
                   "execut", "return", "stamp", "modif", "correct", "fax", "sent", "transmit",
                   "notif", "generat", "submit", "order", "letter", "notice", "memorand",
                   "stipulat", "transcript")
# Entries that ask for a change rather than record one.
REQUEST_RE = re.compile(
    r"\A[\W\d]*(?:(?:joint|unopposed|consent(?:ed)?|emergency|ex\s+parte|amended|second|"
    r"renewed|stipulated)\s+)*(?:motion|stipulation(?!\s+and\s+order)|request|application|proposed|"
    r"\[proposed\]|letter\s+(?:motion|request)|response|reply|memorandum|brief|objection|opposition|"
    r"declaration|affidavit|notice\s+of\s+motion)\b(?!\s+(?:and\s+)?order\b)",
    re.IGNORECASE)
# "Set/Reset Hearings:" and the like are ECF headings, not verbs.
HEADING_RE = re.compile(
    r"\bset/reset\s+(?:hearings?|deadlines?(?:/hearings)?|scheduling\s+order\s+deadlines?)"
    r"(?:\s+as\s+to\s+[^:]{0,120})?\s*:?", re.IGNORECASE)
# An entry whose heading says an event was continued ("Hearing Continued", "Order
# Continuing Hearing", "Notice of Continued Pretrial Conference", "341 Meeting
# Continued"): the new date it then gives ("scheduled for", "to be held on") is a reset.
_EVENT_NOUN = r"(?:hearing|trial|conference|meeting|sentencing|arraignment|hrg)"
# Run on the lower-cased text. Anchored on the verb: a leading "(words){0,3} noun"
# would be tried at every word of every entry.
CONTINUED_RE = re.compile(
    r"\b(?:continuing|continued|adjourned|adjourning|rescheduling|resetting|"
    r"adjournment\s+of|continuance\s+of)(?:/(?:rescheduled|continued|reset))?"
    rf"\s+(?:the\s+)?(?P<ev>(?:[\w'-]+\s+){{0,3}}?{_EVENT_NOUN})\b"
    # "ORDER GRANTING ... MOTION to Continue Case Management Conference"
    rf"|\b(?:granting|allowing)\b[^.;]{{0,80}}?\bmotion\s+to\s+continue\s+(?:the\s+)?"
    rf"(?P<ev3>(?:[\w'-]+\s+){{0,3}}?{_EVENT_NOUN})\b"
    r"|\b(?:notice|order)\s+of\s+continuance\b"
    rf"|\b(?P<ev2>{_EVENT_NOUN}(?:\s+of\s+creditors)?)\s+(?:is\s+|has\s+been\s+)?"
    r"(?:continued|rescheduled|adjourned|reset)\b(?!\s+(?:to|until)\b)(?!\s+for\s+\d)"
    r"|\bproceedings:\s*continued\b")
# The subject of "set for" when it is a filing, not an event ("Transcript Designation
# set for 11/28/2016"): a deadline.
FILING_SUBJECT = re.compile(
    r"\b(?:designation|record|briefs?|transcripts?|responses?|repl(?:y|ies)|reports?|discovery|"
    r"disclosures?|deadlines?|restriction|filings?|objections?|answers?|claims?|plan|"
    r"statements?|exhibits?|witness\s+lists?|submissions?)\b[^.;]{0,20}\Z", re.IGNORECASE)
# "Notice of Hearing on December 22, 2009 at 2:00PM": an entry that opens by noticing
# an event on a date sets it.
NOTICE_LEAD = re.compile(
    r"\A\W*(?:(?:amended|re-?)\s*)?notice\s+of\s+(?:[\w-]+\s+){0,3}?"
    r"(?:hearing|conference|trial|sentencing)\s+(?:on|for|set\s+for)?\s*:?\s*\Z",
    re.IGNORECASE)
# Between two dates of a list ("scheduled for 1/21/2010 at 09:00 AM., 2/18/2010 ...").
LIST_GAP = re.compile(r"\A[\s.,;]*(?:(?:and|&)\s+)?\Z")
