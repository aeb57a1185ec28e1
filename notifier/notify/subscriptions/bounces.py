"""Bounces: an address the SMTP server refuses for good, and what follows from it.

The subscribers' SMTP transport (:mod:`.smtp`) raises :class:`Bounced` (a permanent
:class:`~notifier.errors.DeliveryError`) when the server answers the subscriber's
``RCPT TO`` with a 5xx ("550 no such user"); a 4xx answer (mailbox full,
greylisting) stays an ordinary failure, retried. The dispatcher tells
:meth:`~notifier.notify.subscriptions.mail.SubscriberMail.failed` which row failed
for good, and :func:`mark` sets ``Subscriber.bounced_at`` and withdraws the
subscriber's waiting rows: nothing more is planned or sent to the address (planning
skips bounced subscribers) until a new sign-up's confirmation link is used
(:func:`notifier.notify.subscriptions.registry.confirm` clears it). A refusal at
``DATA`` (after the recipient was accepted) fails the row but is not a bounce.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ...errors import DeliveryError
from ...store.subscribers import Subscriber
from .registry import withdraw_waiting


class Bounced(DeliveryError):
    """The server refused the recipient for good (5xx at ``RCPT TO``)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message, permanent=True)
        self.code = code


def mark(s: Session, subscriber_id: int, now: datetime, reason: str) -> bool:
    """Record that the subscriber's address bounced; False if it was forgotten."""
    sub = s.get(Subscriber, subscriber_id)
    if sub is None:
        return False
    if sub.bounced_at is None:
        sub.bounced_at = now
    withdraw_waiting(s, subscriber_id, None, now, f"the address bounced: {reason}")
    return True
