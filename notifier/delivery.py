"""Delivery: send one message to one channel. Never touches the store.

Create a :class:`Deliverer` from ``settings.channels`` and call
:meth:`Deliverer.send`; failures raise :class:`~notifier.errors.DeliveryError`
(``permanent=True`` when retrying cannot help). The built-in channel ``log``
(used when no ``[[channels]]`` are configured) writes the notification to the
Python log under ``notifier.notifications``. Configured channels go through
Apprise. Channel URLs are secrets: they are never logged or put in errors.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

import apprise

from .config import ChannelSettings
from .errors import DeliveryError
from .planner import LOG_CHANNEL

log = logging.getLogger("notifier.notifications")


class Sender(Protocol):
    """What the dispatcher calls to send; tests and benchmarks pass their own."""

    def __call__(self, channel: str, title: str, body: str, *, urgent: bool = False) -> None:
        ...


def send_log(title: str, body: str, *, urgent: bool = False) -> None:
    log.info("%s%s\n%s", "[URGENT] " if urgent else "", title, body)


def send_apprise(channel: ChannelSettings, title: str, body: str, *, urgent: bool = False,
                 client: apprise.Apprise | None = None) -> None:
    """Send through Apprise; raise DeliveryError naming the channel (not its URL)."""
    if client is None:
        client = apprise.Apprise()
        if not client.add(channel.url.get_secret_value()):
            raise DeliveryError(f"channel {channel.name!r}: Apprise does not recognise its URL",
                                permanent=True)
    kind = apprise.NotifyType.WARNING if urgent else apprise.NotifyType.INFO
    result = client.notify(title=title, body=body, notify_type=kind)
    if not result:
        status = getattr(result, "status", None)
        raise DeliveryError(f"channel {channel.name!r}: sending failed "
                            f"({getattr(status, 'name', status) or 'no detail'})")


class Deliverer:
    """Sends to the configured channels by name; one Apprise client per channel."""

    def __init__(self, channels: Sequence[ChannelSettings]) -> None:
        self.channels = {c.name: c for c in channels}
        self._clients: dict[str, apprise.Apprise] = {}
        self._lock = threading.Lock()

    def _client(self, ch: ChannelSettings) -> apprise.Apprise:
        with self._lock:
            client = self._clients.get(ch.name)
            if client is None:
                client = apprise.Apprise()
                if not client.add(ch.url.get_secret_value()):
                    raise DeliveryError(f"channel {ch.name!r}: Apprise does not recognise "
                                        "its URL", permanent=True)
                self._clients[ch.name] = client
            return client

    def knows(self, channel: str) -> bool:
        return channel in self.channels or (channel == LOG_CHANNEL and not self.channels)

    def send(self, channel: str, title: str, body: str, *, urgent: bool = False) -> None:
        ch = self.channels.get(channel)
        if ch is None:
            if channel == LOG_CHANNEL and not self.channels:
                send_log(title, body, urgent=urgent)
                return
            raise DeliveryError(f"channel {channel!r} is not configured (any more)",
                                permanent=True)
        send_apprise(ch, title, body, urgent=urgent, client=self._client(ch))
