"""What one fetch of one source did: :class:`FetchReport` (CLI, daemon, /healthz)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..store.models import Change


@dataclass
class FetchReport:
    """The outcome of one fetch of one source."""

    source: str
    status: str  # ok, not_modified, held, error
    changes: list[Change] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # the held changes, one line each
    error: str | None = None
    parsed: bool = False  # whether the body was parsed (not after a plain 304)
    pending_missing: int = 0  # events missing from the feed, not yet removed
    next_fetch_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status != "error"
