"""A court's public PACER (CM/ECF) RSS feed -> the docket entries of the configured cases.

Call :func:`parse_rss` with the feed's bytes and the source's settings. Each item
is one docket entry of one case: its title starts with the case number (then the
case name), its description holds the entry text (``[Short title] (<a>number</a>)``
in courts that publish only that, the full text where the court enables it), its
date is when it was entered. Items of other cases are ignored. Parsing is
feedparser's (it tolerates the malformed XML some courts serve).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date

import feedparser

from ..config import SourceSettings
from ..errors import CalendarError
from .docketfold import Entry

_TAG = re.compile(r"<[^>]+>")
_NUMBER_LINK = re.compile(r"\(\s*<a\b[^>]*>\s*(\d+)\s*</a>\s*\)", re.I)


@dataclass(frozen=True)
class RssCase:
    number: str  # the configured case number it matched
    title: str  # the case name from the item title
    entries: tuple[Entry, ...]


def _norm(number: str) -> str:
    return number.strip().lower()


def _matches(title: str, wanted: str) -> bool:
    """Whether an item title names the case: "1:26-cr-00123-ABC USA v. Doe" for "1:26-cr-00123"."""
    head = _norm(title.split(" ", 1)[0]) if title.strip() else ""
    return head == wanted or head.startswith(wanted + "-")


def _text(description: str) -> tuple[str, str | None]:
    """Entry text and number from an item description (HTML)."""
    m = _NUMBER_LINK.search(description)
    number = m.group(1) if m else None
    body = _NUMBER_LINK.sub("", description)
    text = html.unescape(_TAG.sub(" ", body))
    text = re.sub(r"\s+", " ", text).strip()
    # "[Status Conference] Status Conference set for ..." keeps the text; a bare
    # "[Order]" keeps its words without the brackets.
    if text.startswith("[") and "]" in text:
        short, rest = text[1:].split("]", 1)
        text = rest.strip() or short.strip()
    return text, number


def _filed(item: feedparser.FeedParserDict) -> date | None:
    parsed = item.get("published_parsed") or item.get("updated_parsed")
    if not parsed:
        return None
    return date(*parsed[:3])


def parse_rss(raw: bytes, src: SourceSettings) -> list[RssCase]:
    """The configured cases' entries in the feed (CalendarError if it is no feed)."""
    feed = feedparser.parse(raw)
    if feed.get("bozo") and not feed.get("entries"):
        problem = feed.get("bozo_exception")
        raise CalendarError(src.key, [f"{src.key}: not an RSS feed "
                                      f"({type(problem).__name__ if problem else 'unreadable'})"])
    wanted = [_norm(n) for n in src.case_numbers]
    found: dict[str, tuple[str, list[Entry]]] = {}
    for item in feed.entries:
        title = str(item.get("title") or "")
        number = next((w for w in wanted if _matches(title, w)), None)
        if number is None:
            continue
        text, entry_no = _text(str(item.get("description") or item.get("summary") or ""))
        if not text:
            continue
        key = str(item.get("id") or item.get("link") or f"{title}|{text}")
        name = title.split(" ", 1)[1].strip() if " " in title.strip() else title
        found.setdefault(number, (name, []))[1].append(
            Entry(key=key[:500], number=entry_no, date_filed=_filed(item), text=text,
                  link=str(item.get("link")) if item.get("link") else None))
    configured = {_norm(n): n for n in src.case_numbers}
    return [RssCase(number=configured[k], title=v[0], entries=tuple(v[1]))
            for k, v in found.items()]
