"""Deterministic extraction of scheduling facts from one docket entry's text.

:func:`extract` is the whole interface: the entry's text and its filing date in,
zero or more :class:`Fact` out. Pure: no database, no network, no clock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Literal

Action = Literal["set", "reset", "vacated", "held", "deadline"]
Kind = Literal[
    "hearing", "trial", "sentencing", "conference", "arraignment", "plea", "meeting",
    "deadline", "other",
]
ACTIONS: tuple[str, ...] = ("set", "reset", "vacated", "held", "deadline")
KINDS: tuple[str, ...] = (
    "hearing", "trial", "sentencing", "conference", "arraignment", "plea", "meeting",
    "deadline", "other",
)


@dataclass(frozen=True)
class Fact:
    """One scheduling fact an entry states.

    ``date``/``from_date`` are ISO ``YYYY-MM-DD`` (or None), ``time`` 24-hour
    ``HH:MM`` (or None); ``quote`` is the exact substring of the entry that states
    the fact. ``certain`` is False when the rules are not sure: such a fact is
    never applied silently, it goes to review.
    """

    action: Action
    kind: Kind
    date: str | None
    time: str | None
    from_date: str | None
    quote: str
    certain: bool = True

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def extract(text: str, date_filed: date | None = None) -> list[Fact]:
    """The facts ``text`` states, in the order they appear.

    ``date_filed`` completes dates written without a year ("on 5/4").
    """
    from .rules import facts_in

    return [Fact(r.action, r.kind, r.date, r.time, r.from_date, r.quote,  # type: ignore[arg-type]
                 r.certain) for r in facts_in(text, date_filed)]
