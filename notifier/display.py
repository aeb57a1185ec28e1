"""Plain-text helpers for CLI output and messages: :func:`table`, :func:`mask_url`,
:func:`mask_urls`, :func:`mask_email`."""

from __future__ import annotations

import re
from collections.abc import Sequence


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
