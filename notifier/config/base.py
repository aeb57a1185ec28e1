"""Building blocks of the configuration schema: the section base and value types.

:class:`Section` forbids unknown keys and freezes values; :data:`Duration` parses
``"90m"``-style strings (:func:`at_least` bounds one); :data:`Clock` parses
``"HH:MM"``; :data:`Offsets` is a capped list of reminder offsets. Used by
:mod:`notifier.config` and :mod:`notifier.config.sources`.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from ..specs import MAX_OFFSETS
from ..timeutil import format_duration, parse_duration, zone

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


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


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
