"""Read-only status of remote sources, for ``notifier sources``, ``/healthz`` and metrics.

Call :func:`source_status` with the store and settings; it returns one
:class:`SourceStatus` per configured source (whether fetched yet or not).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, func, select

from ..config import Settings
from ..display import mask_url, mask_urls
from ..store import Store
from ..store.models import DocketReview, Event, SourceState


@dataclass(frozen=True)
class SourceStatus:
    name: str
    url: str  # scheme and host only (mask_url)
    format: str
    enabled: bool
    last_status: str  # new, ok, not_modified, held, error
    last_fetch_at: datetime | None
    last_success_at: datetime | None
    last_change_at: datetime | None
    next_fetch_at: datetime | None
    failures: int
    last_error: str | None
    held_at: datetime | None
    held: tuple[str, ...]
    pending_missing: int
    events: int  # live events owned by the source
    review: int = 0  # docket sources: uncertain facts waiting for `notifier dockets review`

    @property
    def healthy(self) -> bool:
        """No failure in a row and nothing held (what /healthz reports per source)."""
        return self.failures == 0 and self.held_at is None

    def as_dict(self) -> dict[str, object]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "name": self.name, "url": self.url, "format": self.format, "enabled": self.enabled,
            "status": self.last_status, "healthy": self.healthy,
            "last_fetch": iso(self.last_fetch_at), "last_success": iso(self.last_success_at),
            "last_change": iso(self.last_change_at), "next_fetch": iso(self.next_fetch_at),
            "failures": self.failures, "last_error": self.last_error,
            "held_since": iso(self.held_at), "held": list(self.held),
            "pending_missing": self.pending_missing, "events": self.events,
            "review": self.review,
        }


def source_status(store: Store, settings: Settings) -> list[SourceStatus]:
    out = []
    with store.read() as s:
        counts = dict(s.exec(select(Event.source, func.count())
                             .where(col(Event.removed_at).is_(None))
                             .group_by(Event.source)).all())
        reviews = dict(s.exec(select(DocketReview.source, func.count())
                              .where(DocketReview.status == "pending")
                              .group_by(DocketReview.source)).all())
        for src in settings.sources:
            st = s.get(SourceState, src.name) or SourceState(name=src.name)
            out.append(SourceStatus(
                name=src.name, url=mask_url(src.url), format=src.format, enabled=src.enabled,
                last_status=st.last_status, last_fetch_at=st.last_fetch_at,
                last_success_at=st.last_success_at, last_change_at=st.last_change_at,
                next_fetch_at=st.next_fetch_at, failures=st.failures,
                last_error=mask_urls(st.last_error) if st.last_error else None,
                held_at=st.held_at,
                held=tuple(json.loads(st.held_summary)) if st.held_summary else (),
                pending_missing=len(json.loads(st.missing or "{}")),
                events=int(counts.get(src.key, 0)),
                review=int(reviews.get(src.name, 0)),
            ))
    return out
