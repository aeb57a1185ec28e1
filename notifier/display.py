"""Plain-text helpers for CLI output and messages: :func:`table`, :func:`mask_url`,
:func:`mask_urls`, :func:`mask_email`; for error messages :func:`toml_value` (a value
as the file wrote it), :func:`did_you_mean` (:func:`closest`) and :func:`not_utf8`
(where a file stops being UTF-8)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time


def table(headers: Sequence[str], rows: Sequence[Sequence[object]],
          max_width: int | None = 60) -> str:
    """Left-aligned columns; cells longer than ``max_width`` are cut with an ellipsis
    (``None``: never cut, for output that is not a terminal)."""
    def cell(v: object) -> str:
        s = "" if v is None else str(v).replace("\n", " ")
        return s if max_width is None or len(s) <= max_width else s[: max_width - 1] + "…"

    cells = [[cell(v) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for r in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


_AUTHORITY = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)")
_NET_URL = re.compile(r"\b(?:https?|webcal)://[^\s'\"<>]+", re.IGNORECASE)


def mask_url(url: str) -> str:
    """A source URL safe to print: its scheme and host only, ``https://host/…``.

    Secret calendar feeds (Google, Outlook, iCloud) carry the secret in the path,
    others in the user:password or the query string, so none of these is shown.
    Local paths and ``file://`` URLs are shown as they are.
    """
    m = _AUTHORITY.match(url.strip())
    if m is None or m.group(1).lower() == "file":
        return url
    host = m.group(2).rpartition("@")[2]
    return f"{m.group(1)}://{host}/…"


def mask_urls(text: str) -> str:
    """``text`` with every http(s) and webcal URL in it shown as by :func:`mask_url`."""
    return _NET_URL.sub(lambda m: mask_url(m.group(0)), text)


def mask_email(address: str) -> str:
    """``j***@e***.org``: enough to recognise one's own address, not to read it."""
    local, _, domain = address.rpartition("@")
    if not local:
        return "***"
    host, dot, tld = domain.rpartition(".")
    shown_host = (host[:1] + "***") if host else "***"
    return f"{local[:1]}***@{shown_host}{dot}{tld if host else ''}"


def toml_value(value: object, limit: int = 80) -> str:
    """``value`` as a TOML file writes it (``2025-07-02``, ``2025-07-02T10:00:00-04:00``,
    ``true``, ``'text'``, ``[1, 2]``), cut to ``limit`` characters, for error messages.

    What a user sees in an error must look like what they wrote, not like Python
    (``datetime.date(2025, 7, 2)``).
    """
    text = _toml(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return repr(value)  # 'text' is a TOML literal string; numbers read the same


def closest(word: str, known: Iterable[str]) -> str | None:
    """The one of ``known`` a misspelt ``word`` most likely meant, or None."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'kind'?)`` for the closest of ``known`` to a misspelt ``word``,
    or ``""`` when none is close."""
    close = closest(word, known)
    return f" (did you mean {close!r}?)" if close else ""


def not_utf8(data: bytes, error: UnicodeDecodeError) -> str:
    """``not UTF-8 text (byte 0xff at line 3, column 7); save it as UTF-8``: where in a
    file the first byte that is not UTF-8 sits, as an editor counts lines and columns."""
    before = data[:error.start]
    line = before.count(b"\n") + 1
    column = len(before[before.rfind(b"\n") + 1:].decode("utf-8", errors="replace")) + 1
    byte = data[error.start:error.start + 1]
    return (f"not UTF-8 text (byte 0x{byte.hex()} at line {line}, column {column}); "
            "save it as UTF-8")
