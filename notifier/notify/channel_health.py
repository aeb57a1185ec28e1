"""Per-channel health and delivery history, read from the outbox's Delivery rows.

Call :func:`channel_status` for every configured channel (``notifier channels``,
``/healthz``) and :func:`history` for the attempts of one notification
(``notifier reminders --history ID``). Read-only; nothing secret is returned:
URLs are shown as :func:`display_url` (Apprise's privacy form, masked again).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from ..config import ChannelSettings, Settings
from ..config.apprise_urls import apprise_plugin
from ..logs import mask, register_secret
from ..store.models import Delivery, Notification

_ATTEMPTS = ("sent", "retry", "dead")  # outcomes of a real send (not withdrawn/missed)


def display_url(url: str) -> str:
    """A channel URL safe to show: Apprise's privacy rendering, no query, masked."""
    register_secret(url)
    scheme = url.split("://", 1)[0] if "://" in url else "?"
    plugin = apprise_plugin(url)
    if plugin is None:
        return f"{scheme}://*** (not an Apprise URL)"
    shown = str(plugin.url(privacy=True)).split("?", 1)[0]
    return mask(shown)


@dataclass
class ChannelStatus:
    name: str
    url: str
    notify: list[str]
    filters: dict[str, Any]
    last_success: datetime | None = None
    last_failure: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    waiting: int = 0
    dead: int = 0
    digest: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.consecutive_failures == 0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("last_success", "last_failure"):
            d[k] = d[k].isoformat(timespec="seconds") if d[k] else None
        d["healthy"] = self.healthy
        d.pop("extra")
        return d


def _one(s: Session, ch: ChannelSettings) -> ChannelStatus:
    st = ChannelStatus(
        name=ch.name, url=display_url(ch.url.get_secret_value()), notify=list(ch.notify),
        filters={"cases": ch.cases, "tags": ch.tags, "kinds": ch.kinds},
        digest=(f"{ch.digest_time:%H:%M} {ch.timezone}, {ch.digest_days} days"
                if ch.digest_time and "digest" in ch.notify else None))
    d = Delivery
    st.last_success = s.exec(select(func.max(d.attempted_at)).where(
        d.channel == ch.name, d.outcome == "sent")).one()
    failed = select(d).where(d.channel == ch.name, col(d.outcome).in_(["retry", "dead"]))
    if st.last_success is not None:
        failed = failed.where(d.attempted_at > st.last_success)
    rows = s.exec(failed.order_by(col(d.attempted_at).desc(), col(d.id).desc())).all()
    st.consecutive_failures = len(rows)
    if rows:
        st.last_failure, st.last_error = rows[0].attempted_at, rows[0].error
    counts = dict(s.exec(select(Notification.status, func.count()).where(
        Notification.channel == ch.name).group_by(Notification.status)).all())
    st.waiting = counts.get("pending", 0) + counts.get("failed", 0) + counts.get("sending", 0)
    st.dead = counts.get("dead", 0)
    return st


def channel_status(s: Session, settings: Settings) -> list[ChannelStatus]:
    """Health of every configured channel, in config order."""
    return [_one(s, ch) for ch in settings.channels]


def history(s: Session, notification_id: int) -> list[Delivery]:
    """Every recorded attempt of one notification, oldest first."""
    return list(s.exec(select(Delivery).where(Delivery.notification_id == notification_id)
                       .order_by(col(Delivery.attempted_at), col(Delivery.id))).all())
