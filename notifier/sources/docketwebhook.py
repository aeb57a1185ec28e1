"""CourtListener docket-alert webhooks: a nudge to read a docket source now.

Call :func:`nudge` when a webhook arrives for a source (the server checks the
secret path token first: CourtListener does not sign its webhooks). It records
the delivery's ``Idempotency-Key`` (CourtListener retries a delivery with the same
key, so a repeat is answered but changes nothing) and makes the source due at once;
the poller then reads the new entries through the API as usual. The payload itself
is not trusted: an unsigned request could say anything, the API cannot.
"""

from __future__ import annotations

import json
from datetime import datetime

from ..config import SourceSettings
from ..store import Store
from ..store.models import DocketState, SourceState

KEEP_KEYS = 500  # CourtListener retries for about two days; this covers far more


def nudge(store: Store, src: SourceSettings, key: str, now: datetime) -> bool:
    """Make ``src`` due now; False when ``key`` was seen before (a retried delivery)."""
    with store.write() as s:
        row = s.get(DocketState, src.name) or DocketState(source=src.name)
        keys: list[str] = json.loads(row.webhook_keys or "[]")
        if key in keys:
            return False
        row.webhook_keys = json.dumps([*keys, key][-KEEP_KEYS:])
        s.add(row)
        state = s.get(SourceState, src.name) or SourceState(name=src.name)
        state.next_fetch_at = now
        s.add(state)
    return True
