"""Subscriber emails: check a claimed row, write its message, send it by SMTP.

:class:`SubscriberMail` is what the dispatcher hands rows of the ``subscribers``
channel to: :meth:`~SubscriberMail.check` (still wanted? the subscription active, the
reminder's date unchanged; a stale-calendar follow-up may be postponed until its change
alert's outcome is known: :mod:`.stale`), :meth:`~SubscriberMail.message` (text with a footer
saying why it came and how to stop) and :meth:`~SubscriberMail.deliver`. The email
is written as Apprise's email plugin built from ``[subscriptions] email`` writes it,
with the recipient and the ``List-Unsubscribe`` / ``List-Unsubscribe-Post`` headers
(RFC 2369, RFC 8058) added as its ``+Header=value`` URL arguments would, and sent
over one kept SMTP connection (:mod:`.smtp`); the dispatcher wraps each batch in
:meth:`~SubscriberMail.batch` (the checks' reads, once per batch: :mod:`.batch`) and
calls :meth:`~SubscriberMail.idle` when the lane has drained. Addresses are masked
in every log line and error this module lets out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError

from ...config import Settings
from ...errors import ConfigError, DeliveryError
from ...logs import register_secret
from ...store import Store
from ...store.models import Case, Event, Notification
from ...store.subscribers import Subscriber, Subscription
from ...timeutil import spell_duration
from .. import messages, planner
from ..delivery import Message
from . import access, bounces, lifecycle, stale
from .batch import BatchReads
from .links import Links
from .registry import CHANNEL, CONFIRM, REMINDER
from .smtp import SmtpMailer, mask_addresses


class MaskAddresses(logging.Filter):
    """Apprise logs "Sent Email to <address>": mask addresses in its records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        if isinstance(record.msg, str):
            record.msg = mask_addresses(record.msg)
        return True


@dataclass(frozen=True)
class SubscriberMessage(Message):
    """A :class:`Message` for one subscriber: its address and extra headers."""

    to: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class SubscriberMail:
    def __init__(self, store: Store, settings: Settings) -> None:
        cfg = settings.subscriptions
        assert cfg.email is not None
        self.store = store
        self.settings = settings
        if any(c.name == CHANNEL for c in settings.channels):
            raise ConfigError(f"{settings.origin}: [[channels]] name {CHANNEL!r} is taken by "
                              "[subscriptions] (its emails' outbox channel); rename the channel")
        self.url = cfg.email.get_secret_value()
        register_secret(self.url)
        self.mailer = SmtpMailer(self.url)
        self.reads = BatchReads(store, settings)
        self.links = Links(cfg, settings.server.base_url)
        self.renderer = messages.Renderer()
        lg = logging.getLogger("apprise")
        if not any(isinstance(f, MaskAddresses) for f in lg.filters):
            lg.addFilter(MaskAddresses())

    # -- check -----------------------------------------------------------------------
    def check(self, n: Notification, now: datetime) -> tuple[str | None, str | None,
                                                             dict[str, Any]]:
        """(final status or None to send, reason, what the message needs); a follow-up
        waiting for its alert answers :data:`.stale.POSTPONED` with ``until``."""
        payload = json.loads(n.payload)
        with self.reads.session() as s:
            sub = s.get(Subscriber, payload.get("subscriber"))
            row = s.get(Subscription, payload.get("subscription"))
            if sub is None or row is None or row.subscriber_id != sub.id:
                return "withdrawn", "the subscriber was forgotten", {}
            assert sub.id is not None and row.id is not None
            case = s.get(Case, row.case_id)
            extra: dict[str, Any] = {
                "to": sub.address, "subscriber_id": sub.id, "key": sub.key,
                "case_id": row.case_id, "lead_s": row.lead_s,
                "case_title": case.title if case is not None else row.case_id}
            if n.type == CONFIRM:
                if row.state != "pending" or not row.confirm_nonce or \
                        not n.dedupe_key.endswith(f":{row.confirm_nonce}"):
                    return "withdrawn", "confirmed already or replaced by a newer link", {}
                extra["confirm_url"] = self.links.confirm_url(row.id, row.confirm_nonce)
                return None, None, extra
            if row.state != "active" or sub.paused or sub.bounced_at is not None:
                return "withdrawn", "the subscriber unsubscribed or paused", {}
            if access.revoked(s, row.feed_token_id):
                return "withdrawn", "the feed token of the sign-up was revoked", {}
            if n.type == lifecycle.FINAL:
                gone = lifecycle.check_final(s, n, now)
                return (gone[0], gone[1], {}) if gone else (None, None, extra)
            ev = s.get(Event, n.event_uid) if n.event_uid else None
            if ev is None or case is None:
                return "withdrawn", "the event no longer exists", {}
            extra["event"] = planner.event_snapshot(ev, case)
            if ev.removed_at is None:
                extra["ics"] = self.reads.ics(ev, case)
            tz = ZoneInfo(case.timezone)
            start = planner.start_instant(planner.when_of(ev), tz)
            extra["until"] = messages.until_text(start, now, date_only=ev.start_utc is None,
                                                 tz=tz)
            extra["case_next"] = self.reads.case_next(s, case.id, now)
        if n.type == REMINDER:
            if ev.removed_at is not None or ev.status not in planner.REMINDABLE or \
                    extra["event"]["start_key"] != payload.get("start_key") or \
                    n.offset_s != row.lead_s:
                return "withdrawn", "the event moved, was cancelled, or the lead time " \
                                    "changed since it was planned", {}
            if start is not None and start <= now:
                return "missed", "not sent: the event had already started", {}
            if now - n.due_at > self.settings.reminders.late_grace:
                return "missed", "not sent: more than late_grace late", {}
        if n.type == stale.STALE:
            final, reason = stale.check(self.store, n, payload, self.settings, now, extra)
            if final is not None:  # postponed: extra says until when
                return final, reason, extra if final == stale.POSTPONED else {}
        return None, None, extra

    # -- message ---------------------------------------------------------------------
    def message(self, n: Notification, extra: dict[str, Any], now: datetime,
                late: bool) -> SubscriberMessage:
        base = self.settings.server.base_url
        sid, key, case_id = extra["subscriber_id"], extra["key"], extra["case_id"]
        case_title = extra["case_title"]
        if n.type == CONFIRM:
            title = f"Confirm: follow {case_title}"
            body = (f"Someone (we hope you) asked to follow the case \"{case_title}\" at "
                    f"{base}/.\n\nTo confirm, open this link:\n{extra['confirm_url']}\n\n"
                    "If it was not you, ignore this email: nothing more will be sent "
                    "to this address, and the link expires in "
                    f"{spell_duration(self.settings.subscriptions.confirm_ttl)}.\n")
            return SubscriberMessage(title, body, "text", False, to=extra["to"])
        if n.type == stale.STALE:
            title, body = stale.text(json.loads(n.payload), extra)
        elif n.type == lifecycle.FINAL:
            title, body = lifecycle.final_text(case_id, case_title, self.settings)
        else:
            ctx = messages.context(
                "reminder" if n.type == REMINDER else "change", json.loads(n.payload),
                due=n.due_at, now=now, late=late, urgent=n.urgent,
                extra={"event": extra["event"], "until": extra["until"],
                       "case_next": extra.get("case_next")},
                channel="", base_url=base, settings=self.settings)
            title, body = self.renderer.render(
                "", "reminder" if n.type == REMINDER else "change", ctx, "text")
        manage = self.links.manage_url(sid, key)
        stop = self.links.unsubscribe_url(sid, key, case_id)
        lead = extra["lead_s"]
        why = (f"reminders {format_duration_s(lead)} before each date and changes"
               if lead else "changes only")
        footer = (f"\n\n--\nYou get this email because you follow \"{case_title}\" "
                  f"({why}) at {base}/.\nManage or pause: {manage}\n"
                  f"Stop following this case: {stop}\n")
        headers = {"List-Unsubscribe": f"<{stop}>",
                   "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        ics = extra.get("ics")
        return SubscriberMessage(title, body.rstrip() + footer, "text", n.urgent,
                                 (("event.ics", ics, "text/calendar"),) if ics else (),
                                 to=extra["to"], headers=headers)

    # -- send ------------------------------------------------------------------------
    def deliver(self, msg: Message) -> None:
        if not isinstance(msg, SubscriberMessage) or not msg.to:
            raise DeliveryError("subscriber message without an address", permanent=True)
        if any(ch in v for v in (msg.title, msg.to, *msg.headers.values()) for ch in "\r\n"):
            raise DeliveryError("refused: a header holds a line break", permanent=True)
        self.mailer.send(msg.to, msg.title, msg.body, msg.headers, msg.attachments)

    def batch(self, rows: Sequence[Notification]) -> AbstractContextManager[None]:
        """Around the checks and sends of a batch of claimed rows (:class:`BatchReads`)."""
        return self.reads.batch(rows)

    def idle(self) -> None:
        """The lane has nothing more to send for now: close the kept SMTP connection."""
        self.mailer.close()

    def failed(self, n: Notification, error: DeliveryError, now: datetime) -> None:
        """Told by the dispatcher that row ``n`` failed for good: a refused address
        marks its subscriber bounced (:mod:`.bounces`)."""
        sid = json.loads(n.payload).get("subscriber")
        if isinstance(error, bounces.Bounced) and isinstance(sid, int):
            try:
                with self.store.write() as s:
                    bounces.mark(s, sid, now, str(error))
            except SQLAlchemyError as e:  # the row is recorded; the next bounce retries
                logging.getLogger(__name__).warning("bounce of subscriber %d not recorded: "
                                                    "%s", sid, e)


def format_duration_s(seconds: int) -> str:
    from datetime import timedelta

    return spell_duration(timedelta(seconds=seconds))
