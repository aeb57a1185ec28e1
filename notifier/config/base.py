"""Building blocks of the configuration schema: the section base and value types.

:class:`Section` forbids unknown keys and freezes values; :data:`Duration` parses
``"90m"``-style strings (:func:`at_least` bounds one); :data:`Clock` parses
``"HH:MM"``; :data:`Offsets` is a capped list of reminder offsets. :func:`error_text`
words a pydantic error for people (patterns such as :data:`SLUG` said in words). Used by
:mod:`notifier.config`, :mod:`notifier.config.sources` and the calendar files' schema.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time, timedelta
from typing import Annotated, Any, get_args

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from ..specs import MAX_OFFSETS
from ..timeutil import format_duration, parse_duration, zone

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

# Ids of cases, events and sources, and event kinds; their errors say them in words.
SLUG = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
KIND = r"^[a-z][a-z0-9_-]*$"
_PATTERN_WORDS = {
    SLUG: "must be letters, digits, '.', '_' or '-', starting with a letter or digit",
    KIND: "must be lower-case letters, digits, '_' or '-', starting with a lower-case letter",
}


def error_text(error: Mapping[str, Any]) -> str:
    """The message of one pydantic error (an item of ``ValidationError.errors()``) in
    words: no ``Value error,`` prefix and no regular expression."""
    if error.get("type") == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        return _PATTERN_WORDS.get(pattern, "has characters that are not allowed here")
    return str(error.get("msg", "")).removeprefix("Value error, ")


def at_least(minimum: timedelta) -> AfterValidator:
    """A lower bound for a :data:`Duration`: ``Annotated[Duration, at_least(...)]``."""
    def check(v: timedelta) -> timedelta:
        if v < minimum:
            raise ValueError(f"must be at least {format_duration(minimum)}")
        return v
    return AfterValidator(check)


def _few_offsets(value: object) -> object:
    # Each offset is a planned row per event and channel: 3,000 of them made
    # 6,003 rows for one hearing.
    if isinstance(value, list) and len(value) > MAX_OFFSETS:
        raise ValueError(f"{len(value)} reminder offsets; at most {MAX_OFFSETS} per list")
    return value


# A list of reminder offsets (config ``[reminders]`` and calendar files' ``[reminders]``).
Offsets = Annotated[list[Duration], BeforeValidator(_few_offsets)]


def _parse_clock(value: object) -> object:
    if isinstance(value, str):
        m = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            raise ValueError(f"invalid time of day {value!r}: use HH:MM, e.g. \"09:00\"")
        return time(int(m.group(1)), int(m.group(2)))
    return value


Clock = Annotated[time, BeforeValidator(_parse_clock)]


def _check_zone(value: str) -> str:
    zone(value)  # raises ValueError naming the zone
    return value


# An IANA time zone name, checked when the settings or calendar file are read.
TimeZoneName = Annotated[str, AfterValidator(_check_zone)]


# A duration that must not be zero (an interval, a timeout, a lifetime).
PositiveDuration = Annotated[Duration, at_least(timedelta(seconds=1))]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def known_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The keys the table at ``loc`` (a pydantic error location, without the bad key)
    accepts under ``model``: what an unknown key is compared with for a suggestion."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list: the list's item type was taken below
        field = current.model_fields.get(part) if _is_model(current) else None
        if field is None:
            return []
        current = _model_in(field.annotation)
    if not _is_model(current):
        return []
    return [k for k, f in current.model_fields.items() if not f.exclude]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _model_in(annotation: Any) -> Any:
    """The model class inside ``X``, ``X | None`` or ``list[X]`` (else None)."""
    if _is_model(annotation):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
