"""Plain-text helpers for CLI output and messages: :func:`table`, :func:`mask_url`."""

from __future__ import annotations

import re
from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], max_width: int = 60) -> str:
    """Left-aligned columns; long cells are cut with an ellipsis."""
    def cell(v: object) -> str:
        s = "" if v is None else str(v).replace("\n", " ")
        return s if len(s) <= max_width else s[: max_width - 1] + "…"

    cells = [[cell(v) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for r in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@?#]*@")


def mask_url(url: str) -> str:
    """A URL safe to print: user:password and the query string (tokens) are masked."""
    masked = _USERINFO.sub(r"\1***@", url)
    base, sep, _query = masked.partition("?")
    base = base.partition("#")[0]
    return f"{base}?***" if sep else base
