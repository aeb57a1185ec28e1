"""The review list of a docket source: uncertain facts an operator accepts or rejects.

:func:`pending` lists what waits (with the entry it came from); :func:`decide`
records a decision. An accepted fact joins the fold the next time the source is
folded (``notifier dockets accept`` refolds at once with :func:`.dockets.refold`);
a rejected one is never applied. Decisions are kept, so the same fact read again
is not asked about twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import col, select

from ..errors import NotifierError
from ..store import Store
from ..store.models import DocketEntry, DocketReview


@dataclass(frozen=True)
class ReviewItem:
    id: int
    source: str
    status: str
    fact: dict[str, Any]
    number: str | None
    date_filed: date | None
    text: str
    link: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "status": self.status, **self.fact,
                "entry_number": self.number,
                "date_filed": self.date_filed.isoformat() if self.date_filed else None,
                "entry_text": self.text, "entry_link": self.link}


def pending(store: Store, source: str | None = None, *,
            every: bool = False) -> list[ReviewItem]:
    """Facts waiting for a decision (``every``: decided ones too), oldest first."""
    with store.read() as s:
        q = select(DocketReview).order_by(col(DocketReview.id))
        if source is not None:
            q = q.where(DocketReview.source == source)
        if not every:
            q = q.where(DocketReview.status == "pending")
        out = []
        for r in s.exec(q).all():
            entry = s.exec(select(DocketEntry).where(DocketEntry.source == r.source,
                                                     DocketEntry.entry_key == r.entry_key)
                           ).first()
            out.append(ReviewItem(
                id=r.id or 0, source=r.source, status=r.status, fact=json.loads(r.fact),
                number=entry.number if entry else None,
                date_filed=entry.date_filed if entry else None,
                text=entry.text if entry else "", link=entry.link if entry else None))
        return out


def decide(store: Store, review_id: int, status: str, now: datetime) -> str:
    """Accept or reject review item ``review_id``; returns its source's name."""
    if status not in ("accepted", "rejected"):
        raise ValueError(status)
    with store.write() as s:
        row = s.get(DocketReview, review_id)
        if row is None:
            raise NotifierError(f"no review item {review_id} (see `notifier dockets review`)")
        row.status = status
        row.decided_at = now
        s.add(row)
        return row.source
