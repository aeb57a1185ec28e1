"""Read-side view of the outbox for ``notifier reminders`` (and the web pages).

Call :func:`list_notifications`. Read-only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from ..store.models import Notification


@dataclass(frozen=True)
class NotificationView:
    n: Notification
    payload: dict[str, Any]

    @property
    def event(self) -> dict[str, Any]:
        return dict(self.payload.get("event") or {})

    @property
    def state(self) -> str:
        """The status, with ``late``/``urgent`` marks (e.g. ``sent (late)``)."""
        marks = [m for m, on in (("late", self.n.late), ("urgent", self.n.urgent)) if on]
        return self.n.status + (f" ({', '.join(marks)})" if marks else "")

    @property
    def due_local(self) -> str:
        """Due time in the court's zone (a digest: its channel's zone), with its abbreviation."""
        tz = ZoneInfo(self.event.get("timezone") or self.payload.get("timezone") or "UTC")
        return f"{self.n.due_at.astimezone(tz):%Y-%m-%d %H:%M %Z}"

    @property
    def due_utc(self) -> str:
        return f"{self.n.due_at.astimezone(ZoneInfo('UTC')):%Y-%m-%d %H:%M %Z}"

    @property
    def event_ref(self) -> str:
        ev = self.event
        if ev.get("case_id") and ev.get("event_id"):
            return f"{ev['case_id']}/{ev['event_id']}"
        return self.n.event_uid or ev.get("case_id") or ""  # a grouped alert: its case

    @property
    def what(self) -> str:
        if self.n.type == "reminder":
            return f"{self.payload.get('offset_text', '')} before {self.event.get('when', '')}"
        if self.n.type == "change":
            return "; ".join(c["summary"] for c in self.payload.get("changes") or [])
        return str(self.payload.get("title", ""))

    def as_dict(self) -> dict[str, Any]:
        n = self.n
        return {
            "id": n.id, "type": n.type, "status": n.status, "late": n.late,
            "urgent": n.urgent, "channel": n.channel, "event_uid": n.event_uid,
            "case_id": n.case_id, "change_id": n.change_id, "offset_s": n.offset_s,
            "due_at": n.due_at.isoformat(), "next_attempt_at": n.next_attempt_at.isoformat(),
            "sent_at": n.sent_at.isoformat() if n.sent_at else None,
            "attempts": n.attempts, "last_error": n.last_error, "what": self.what,
            "dedupe_key": n.dedupe_key,
        }


def list_notifications(s: Session, *, statuses: Sequence[str] | None = None,
                       limit: int | None = None) -> list[NotificationView]:
    """Outbox rows in due order, optionally only some statuses."""
    q = select(Notification).order_by(col(Notification.due_at), col(Notification.id))
    if statuses:
        q = q.where(col(Notification.status).in_(list(statuses)))
    if limit:
        q = q.limit(limit)
    return [NotificationView(n, json.loads(n.payload)) for n in s.exec(q).all()]
