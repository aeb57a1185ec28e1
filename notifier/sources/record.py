"""A source's polling state: failures with backoff, successes, and the next fetch time.

Shared by :mod:`.poll` (calendar sources) and :mod:`.dockets` (docket sources):
:func:`record_failure` after any failed fetch (the stored events are not touched),
:func:`mark_success` on the state row of a fetch that worked.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ..config import SourceSettings
from ..store import Store
from ..store.models import SourceState
from .report import FetchReport

log = logging.getLogger(__name__)


def backoff(src: SourceSettings, failures: int) -> timedelta:
    """Delay before the next try after ``failures`` consecutive failures."""
    if failures <= 0:
        return src.interval
    cap = max(src.max_backoff, src.interval)
    return min(src.interval * (2 ** min(failures, 30)), cap)


def load_state(store: Store, name: str) -> SourceState:
    with store.read() as s:
        return s.get(SourceState, name) or SourceState(name=name)


def record_failure(store: Store, src: SourceSettings, now: datetime, message: str,
                    retry_after: timedelta | None = None) -> FetchReport:
    with store.write() as s:
        state = s.get(SourceState, src.name) or SourceState(name=src.name)
        state.failures += 1
        state.last_fetch_at = state.last_error_at = now
        state.last_error = message
        state.last_status = "error"
        delay = backoff(src, state.failures)
        if retry_after is not None:
            delay = max(delay, min(retry_after, max(src.max_backoff, src.interval)))
        state.next_fetch_at = now + delay
        s.add(state)
    log.warning("%s (failure %d; next try %s)", message, state.failures,
                state.next_fetch_at.isoformat() if state.next_fetch_at else "-")
    return FetchReport(source=src.name, status="error", error=message,
                       next_fetch_at=state.next_fetch_at)


def mark_success(row: SourceState, src: SourceSettings, now: datetime, status: str,
                  got: object) -> None:
    row.last_fetch_at = row.last_success_at = now
    row.last_status = status
    row.failures = 0
    row.last_error = None
    row.next_fetch_at = now + src.interval
    etag = getattr(got, "etag", None)
    last_modified = getattr(got, "last_modified", None)
    row.etag = etag
    row.last_modified = last_modified
