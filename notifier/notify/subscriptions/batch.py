"""What subscriber checks read, read once per dispatcher batch.

:class:`BatchReads` serves :meth:`SubscriberMail.check
<notifier.notify.subscriptions.mail.SubscriberMail.check>`: its :meth:`~BatchReads.session`
is an ordinary read session. Inside :meth:`~BatchReads.batch` (the dispatcher wraps each
batch of claimed subscriber rows in it) that session is one kept for the batch, into
which the rows' subscribers, subscriptions, cases and events were loaded by four
queries up front, so the checks' ``session.get`` calls find them without a query each
(ten thousand followers of one case: four round trips per row were most of the
dispatcher's time); and :meth:`~BatchReads.ics` writes an event's ``.ics`` attachment
once per batch rather than once per follower, and :meth:`~BatchReads.case_next` the
case's next date once per batch.

The batch's rows are checked against what was stored when the batch began, at most
one batch's sending time (50 rows, well under a second) before each send; outside a
batch every check reads afresh. The kept session belongs to the thread that opened
the batch (a lane); other threads get sessions of their own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from ...config import Settings
from ...store import Store
from ...store.models import Case, Event, FeedToken, Notification
from ...store.subscribers import Subscriber, Subscription
from ..bursts import case_next
from ..ics_attachment import event_ics


class BatchReads:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._local = threading.local()  # .session, .keep (loaded objects), .ics

    @contextmanager
    def session(self) -> Iterator[Session]:
        """The batch's session on the thread running a batch, else a fresh one."""
        kept = getattr(self._local, "session", None)
        if kept is not None:
            yield kept
            return
        with self.store.read() as s:
            yield s

    def ics(self, ev: Event, case: Case) -> bytes | None:
        """:func:`event_ics` of ``ev``, written once per batch for each event."""
        cache: dict[tuple[str, str], bytes | None] | None = getattr(self._local, "ics", None)
        if cache is None:
            return event_ics(ev, case, self.settings)
        key = (ev.uid, case.id)
        if key not in cache:
            cache[key] = event_ics(ev, case, self.settings)
        return cache[key]

    def case_next(self, s: Session, case_id: str, now: datetime) -> str | None:
        """The case's next date as text (the "Next date in this case" line), read once
        per batch for each case."""
        cache: dict[str, str | None] | None = getattr(self._local, "next", None)
        if cache is None:
            return case_next(s, case_id, now)
        if case_id not in cache:
            cache[case_id] = case_next(s, case_id, now)
        return cache[case_id]

    @contextmanager
    def batch(self, rows: Sequence[Notification]) -> Iterator[None]:
        """Load what checking ``rows`` needs into one session kept until the end."""
        with self.store.read() as s:
            self._local.keep = _load(s, rows)  # the session only holds weak references
            self._local.ics = {}
            self._local.next = {}
            self._local.session = s
            try:
                yield
            finally:
                self._local.session = self._local.keep = self._local.ics = None
                self._local.next = None


def _load(s: Session, rows: Sequence[Notification]) -> list[Any]:
    payloads = [json.loads(n.payload) for n in rows]
    sub_ids = {p["subscriber"] for p in payloads if isinstance(p.get("subscriber"), int)}
    row_ids = {p["subscription"] for p in payloads if isinstance(p.get("subscription"), int)}
    uids = {n.event_uid for n in rows if n.event_uid}
    keep: list[Any] = []
    if sub_ids:
        keep += s.exec(select(Subscriber).where(col(Subscriber.id).in_(sub_ids))).all()
    if row_ids:
        subs = s.exec(select(Subscription).where(col(Subscription.id).in_(row_ids))).all()
        keep += subs
        case_ids = {r.case_id for r in subs}
        if case_ids:
            keep += s.exec(select(Case).where(col(Case.id).in_(case_ids))).all()
        tokens = {r.feed_token_id for r in subs if r.feed_token_id is not None}
        if tokens:  # what :func:`.access.revoked` reads
            keep += s.exec(select(FeedToken).where(col(FeedToken.id).in_(tokens))).all()
    if uids:
        keep += s.exec(select(Event).where(col(Event.uid).in_(uids))).all()
    return keep
