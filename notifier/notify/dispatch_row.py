"""One claimed outbox row, right before and at its send: check it again, render it, send it.

The :class:`~notifier.notify.dispatch.Dispatcher` holds one :class:`RowSender` and
calls, for each row it claimed, :meth:`RowSender.check` (send it, or the final status
it gets instead), then :meth:`RowSender.message` and :meth:`RowSender.send`. What it
does with the outcome is :mod:`.dispatch_outcome`'s part.

The checks, against the store as it is *now* (court dates move):

- a reminder no longer in the plan (its event moved, was cancelled or removed, or the
  rules changed) is ``withdrawn``, never sent;
- a reminder more than ``[reminders] late_grace`` late, or whose event has started,
  is ``missed`` (never sent stale). Change alerts are never dropped for lateness: a
  late "hearing moved" alert is still news;
- a digest with nothing on its agenda is ``withdrawn``.

Messages are rendered for their channel (:mod:`notifier.notify.messages`: the
channel's templates and body format; an ``.ics`` attachment where the channel takes
one); rows of subscriber emails are checked, rendered and sent by
:class:`~notifier.notify.subscriptions.mail.SubscriberMail`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..config import Settings
from ..store import Store
from ..store.models import Notification
from . import digest, dispatch_sql, messages, outbox, planner
from .delivery import Deliverer, Message, Sender
from .ics_attachment import event_ics
from .subscriptions import CHANNEL as SUBSCRIBERS
from .subscriptions.mail import SubscriberMail

# (final status or None to send, reason, what the message needs now)
Checked = tuple[str | None, str | None, dict[str, Any]]


class RowSender:
    """Checks, renders and sends claimed rows; never records anything."""

    def __init__(self, store: Store, settings: Settings, *, sender: Sender | None,
                 deliverer: Deliverer | None, subs: SubscriberMail | None) -> None:
        self.store = store
        self.settings = settings
        # A plain ``sender`` (tests, benchmarks) gets text; the Deliverer gets each
        # channel's format and attachments.
        self.sender = sender
        self.deliverer = deliverer if deliverer is not None or sender is not None \
            else Deliverer(settings.channels)
        self.renderer = messages.Renderer({c.name: settings.resolve(c.templates)
                                           for c in settings.channels if c.templates})
        self.subs = subs

    def check(self, n: Notification, now: datetime, sql: dispatch_sql.Lane) -> Checked:
        """(final status, POSTPONED (until extra["until"]) or None to send, reason,
        what the message needs now)."""
        if n.channel == SUBSCRIBERS and self.subs is not None:
            return self.subs.check(n, now)
        if n.type == "digest":
            return self._check_digest(n, now)
        if n.event_uid is None:
            return None, None, {}
        found = sql.event_now(n.event_uid, now)
        if found is None:
            return ("withdrawn", "the event no longer exists", {}) \
                if n.type == "reminder" else (None, None, {})
        ev, case = found.event, found.case
        tz = ZoneInfo(case.timezone)
        nxt = planner.next_of_case(found.upcoming(), tz, now)
        when = planner.when_of(ev)
        start = planner.start_instant(when, tz)
        extra: dict[str, Any] = {
            "event": planner.event_snapshot(ev, case),
            "until": messages.until_text(start, now, date_only=ev.start_utc is None, tz=tz),
            "case_next": nxt}
        if self.deliverer is not None and self.deliverer.wants_ics(n.channel) and \
                ev.removed_at is None:
            extra["ics"] = event_ics(ev, case, self.settings)
        if n.type != "reminder":
            return None, None, extra
        if n.dedupe_key not in outbox.desired_reminders(ev, case, self.settings):
            return "withdrawn", "the event moved, was cancelled or removed, or the " \
                                "reminder rules changed since it was planned", extra
        if start is not None and start <= now:
            return "missed", "not sent: the event had already started", extra
        grace = self.settings.reminders.late_grace
        if now - n.due_at > grace:
            return "missed", f"not sent: more than {grace} late (late_grace)", extra
        return None, None, extra

    def _check_digest(self, n: Notification, now: datetime) -> Checked:
        ch = next((c for c in self.settings.channels if c.name == n.channel), None)
        if ch is None:
            return None, None, {}  # delivery reports the channel as not configured
        grace = self.settings.reminders.late_grace
        if now - n.due_at > grace:
            return "missed", f"not sent: more than {grace} late (late_grace)", {}
        with self.store.read() as s:
            extra = digest.agenda(s, ch, digest.payload_day(n.payload))
        if not extra["agenda_count"]:
            return "withdrawn", "nothing on the agenda", extra
        return None, None, extra

    def message(self, n: Notification, extra: dict[str, Any], now: datetime,
                late: bool) -> Message:
        """``n`` rendered for its channel, with what :meth:`check` found."""
        if n.channel == SUBSCRIBERS and self.subs is not None:
            return self.subs.message(n, extra, now, late)
        ics = extra.pop("ics", None)
        fmt = self.deliverer.format_for(n.channel) if self.deliverer is not None else "text"
        ctx = messages.context(n.type, json.loads(n.payload), due=n.due_at, now=now, late=late,
                               urgent=n.urgent, extra=extra, channel=n.channel,
                               base_url=self.settings.server.base_url, settings=self.settings)
        title, body = self.renderer.render(n.channel, n.type, ctx, fmt)
        return Message(title, body, fmt, n.urgent,
                       (("event.ics", ics, "text/calendar"),) if ics else ())

    def send(self, n: Notification, msg: Message) -> None:
        """Hand ``msg`` to ``n``'s channel; raises DeliveryError when it fails."""
        if n.channel == SUBSCRIBERS and self.subs is not None:
            self.subs.deliver(msg)
        elif self.deliverer is not None:
            self.deliverer.deliver(n.channel, msg)
        else:
            assert self.sender is not None
            self.sender(n.channel, msg.title, msg.body, urgent=msg.urgent)
