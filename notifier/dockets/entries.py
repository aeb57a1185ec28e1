"""Docket entries as people hand them to the extractor: a JSON list or plain lines.

:func:`parse_entries` reads ``[{"description": ..., "date_filed": "YYYY-MM-DD"}, ...]``
or, as a convenience, plain text with one entry per line; every bad item is reported
by its index (or line) and value, never skipped silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from ..errors import NotifierError


@dataclass(frozen=True)
class Entry:
    """One docket entry's text and filing date (None when not given)."""

    description: str
    date_filed: date | None


def _short(value: Any) -> str:
    """A value as JSON writes it (the input is JSON), cut for the message."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _date(raw: Any, where: str) -> date | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise NotifierError(f"{where}: date_filed {_short(raw)} is not a YYYY-MM-DD string")
    try:
        # Full timestamps ("2017-05-04T00:00:00") are fine: the day is what counts.
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise NotifierError(f"{where}: date_filed {_short(raw)} is not a YYYY-MM-DD date") \
            from None


_LIST = 'a JSON list of {"description": TEXT, "date_filed": "YYYY-MM-DD"}'


def parse_entries(text: str, origin: str, default_filed: date | None = None) -> list[Entry]:
    """The entries in ``text`` (read from ``origin``, named in errors).

    Text starting with ``[`` or ``{`` is JSON, and must be the list: a JSON object is
    an error (not one entry of plain text whose facts would be silently none).
    """
    if text.lstrip().startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise NotifierError(f"{origin}: line {e.lineno} column {e.colno}: "
                                f"not valid JSON ({e.msg}); expected {_LIST}") from e
        if not isinstance(data, list):
            raise NotifierError(f"{origin}: a JSON object, not a list: expected {_LIST} "
                                "(put a single entry in [ ])")
        out = []
        for i, item in enumerate(data):
            where = f"{origin}: item {i}"
            if not isinstance(item, dict):
                raise NotifierError(f"{where}: expected an object with \"description\" and "
                                    f"\"date_filed\", got {_short(item)}")
            desc = item.get("description")
            if not isinstance(desc, str):
                raise NotifierError(f"{where}: \"description\" must be a string, got "
                                    f"{_short(desc)}")
            filed = _date(item.get("date_filed"), where)
            out.append(Entry(desc, filed if filed is not None else default_filed))
        return out
    return [Entry(line.strip(), default_filed) for line in text.splitlines() if line.strip()]
