"""Bounces: an address the SMTP server refuses for good, and what follows from it.

Apprise's email plugin keeps the SMTP server's answer to itself (it logs a refused
recipient at debug level and reports only "failed"), so :func:`watch` records, for
the sends made on this thread inside it, every recipient the server refused at
``RCPT TO`` with its code: ``smtplib.SMTP.sendmail`` is wrapped once, and outside
:func:`watch` (other threads, other code) the wrapper only passes through.

:func:`refusal` turns what was seen into :class:`Bounced` (a permanent
:class:`~notifier.errors.DeliveryError`) for a 5xx answer ("550 no such user");
a 4xx answer (mailbox full, greylisting) stays an ordinary failure, retried. The
dispatcher tells :meth:`~notifier.notify.subscriptions.mail.SubscriberMail.failed`
which row failed for good, and :func:`mark` sets ``Subscriber.bounced_at`` and
withdraws the subscriber's waiting rows: nothing more is planned or sent to the
address (planning skips bounced subscribers) until a new sign-up's confirmation
link is used (:func:`notifier.notify.subscriptions.registry.confirm` clears it).
"""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlmodel import Session

from ...errors import DeliveryError
from ...store.subscribers import Subscriber
from .registry import withdraw_waiting

_seen = threading.local()  # .refused: {address: (code, text)} while a send watches


class Bounced(DeliveryError):
    """The server refused the recipient for good (5xx at ``RCPT TO``)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message, permanent=True)
        self.code = code


def _install() -> None:
    original = smtplib.SMTP.sendmail
    if getattr(original, "_notifier_watch", False):
        return

    def sendmail(self: smtplib.SMTP, from_addr: str, to_addrs: Any, msg: Any,
                 mail_options: Any = (), rcpt_options: Any = ()) -> Any:
        try:
            refused = original(self, from_addr, to_addrs, msg, mail_options, rcpt_options)
        except smtplib.SMTPRecipientsRefused as e:
            _note(e.recipients)
            raise
        _note(refused)
        return refused

    sendmail._notifier_watch = True  # type: ignore[attr-defined]
    smtplib.SMTP.sendmail = sendmail  # type: ignore[method-assign]


def _note(refused: Any) -> None:
    seen = getattr(_seen, "refused", None)
    if seen is None or not isinstance(refused, dict):
        return
    for address, answer in refused.items():
        code, text = answer if isinstance(answer, tuple) and len(answer) == 2 else (0, b"")
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        seen[str(address).lower()] = (int(code), str(text))


_install()


@contextmanager
def watch() -> Iterator[dict[str, tuple[int, str]]]:
    """Record the recipients refused by sends on this thread while inside."""
    refused: dict[str, tuple[int, str]] = {}
    _seen.refused = refused
    try:
        yield refused
    finally:
        _seen.refused = None


def refusal(refused: dict[str, tuple[int, str]], address: str) -> tuple[int, str] | None:
    """(code, text) when ``address`` was refused for good (5xx), else None."""
    code, text = refused.get(address.lower(), (0, ""))
    return (code, text) if 500 <= code < 600 else None


def mark(s: Session, subscriber_id: int, now: datetime, reason: str) -> bool:
    """Record that the subscriber's address bounced; False if it was forgotten."""
    sub = s.get(Subscriber, subscriber_id)
    if sub is None:
        return False
    if sub.bounced_at is None:
        sub.bounced_at = now
    withdraw_waiting(s, subscriber_id, None, now, f"the address bounced: {reason}")
    return True
