"""Delivery: send one message to one channel through Apprise. Never touches the store.

Create a :class:`Deliverer` from ``settings.channels`` and call
:meth:`Deliverer.deliver` with a :class:`Message` (or the plain
:meth:`Deliverer.send`, the :class:`Sender` shape tests and benchmarks use).
Failures raise :class:`~notifier.errors.DeliveryError`, ``permanent=True`` when
retrying cannot help. The built-in channel ``log`` (used when no ``[[channels]]``
are configured) writes the notification to the Python log under
``notifier.notifications``.

Why a send failed comes from Apprise itself: every per-URL result of an
``AppriseResult`` carries the log lines Apprise wrote while sending it (its
per-call ``LogCapture``), which :func:`classify` reads: HTTP 4xx (but 408/429)
and URLs Apprise cannot load are permanent; 5xx, timeouts and connection
errors are transient. Apprise does not pass on the response's headers, so a
``Retry-After`` (on a 429 or 503) is read from the ``requests`` response it got,
on the sending thread (:func:`_watch_responses`), and carried by the
:class:`~notifier.errors.DeliveryError` as ``retry_after``. Channel URLs are
secrets: each is registered with :func:`notifier.logs.register_secret` and every
reason is passed through :func:`notifier.logs.mask` before it leaves this module.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import apprise
from apprise.attachment.memory import AttachMemory
from apprise.plugins.email import NotifyEmail
from apprise.utils.parse import parse_url
from requests.adapters import HTTPAdapter

from ..config import ChannelSettings
from ..errors import DeliveryError
from ..logs import MaskingFilter, mask, register_secret
from .planner import LOG_CHANNEL

log = logging.getLogger("notifier.notifications")
# Apprise (and urllib3 under it) log the URLs they use at DEBUG: mask them at the
# source, so that every handler (not only ours from setup_logging) sees them masked.
for _name in ("apprise", "urllib3.connectionpool"):
    _lg = logging.getLogger(_name)
    if not any(isinstance(f, MaskingFilter) for f in _lg.filters):
        _lg.addFilter(MaskingFilter())
FORMATS = ("text", "markdown", "html")
_HTTP_CODE = re.compile(r"(?:error=|HTTP[ /]?|status(?: code)?[ :=]+|code[ :=]+)(\d{3})\b",
                        re.IGNORECASE)
_TRANSIENT_HTTP = {408, 425, 429}
_RETRY_AFTER_CODES = {429, 503}
EMAIL_RATE = 1.0  # seconds between two emails on one channel unless its ``rate`` says
_responses = threading.local()  # .seen: [(status, Retry-After)] while a send watches


class Sender(Protocol):
    """What the dispatcher calls to send plain text; tests and benchmarks pass their own."""

    def __call__(self, channel: str, title: str, body: str, *, urgent: bool = False) -> None:
        ...


@dataclass(frozen=True)
class Message:
    """A rendered notification for one channel."""

    title: str
    body: str
    format: str = "text"  # text | markdown | html
    urgent: bool = False
    attachments: tuple[tuple[str, bytes, str], ...] = ()  # (file name, data, MIME type)


def classify(result: Any) -> tuple[str, bool]:
    """(masked reason, permanent) for a failed ``AppriseResult``."""
    status = getattr(getattr(result, "status", None), "name", "FAILURE")
    if status == "NOMATCH" or not list(result):
        return "Apprise could not load the channel URL", True
    lines: list[str] = []
    permanent = False
    for r in result:
        if bool(r):
            continue
        msgs = [e.message for e in r.logs() if e.level in ("WARNING", "ERROR", "CRITICAL")]
        lines += msgs
        if r.status.name == "TIMEOUT":
            continue
        for m in msgs:
            for code in (int(c) for c in _HTTP_CODE.findall(m)):
                if 400 <= code < 500 and code not in _TRANSIENT_HTTP:
                    permanent = True
    reason = "; ".join(dict.fromkeys(m.strip() for m in lines if m.strip())) or status.lower()
    if status == "TIMEOUT" and "did not finish" not in reason:
        reason = f"timed out: {reason}"
    return mask(reason), permanent


def _install_response_watch() -> None:
    """Let a send on this thread see the status and ``Retry-After`` of every HTTP
    response Apprise's plugins get through ``requests`` (they keep them to themselves).
    Other threads and code outside :func:`_watch_responses` are not affected."""
    original = HTTPAdapter.build_response
    if getattr(original, "_notifier_watch", False):
        return

    def build_response(self: HTTPAdapter, req: Any, resp: Any) -> Any:
        response = original(self, req, resp)
        seen = getattr(_responses, "seen", None)
        if seen is not None:
            seen.append((response.status_code, response.headers.get("Retry-After")))
        return response

    build_response._notifier_watch = True  # type: ignore[attr-defined]
    HTTPAdapter.build_response = build_response  # type: ignore[method-assign]


_install_response_watch()


@contextmanager
def _watch_responses() -> Iterator[list[tuple[int, str | None]]]:
    seen: list[tuple[int, str | None]] = []
    _responses.seen = seen
    try:
        yield seen
    finally:
        _responses.seen = None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def _retry_after(seen: Sequence[tuple[int, str | None]]) -> float | None:
    waits = [w for code, header in seen if code in _RETRY_AFTER_CODES
             and (w := retry_after_seconds(header)) is not None]
    return max(waits) if waits else None


def _priority_value(plugin: Any, configured: str | None) -> str | None:
    """The ?priority= to use for urgent messages, if the service has priorities."""
    arg = getattr(plugin, "template_args", {}).get("priority")
    if not arg:
        return None
    if configured:
        return configured
    values = [str(v).lower() for v in (arg.get("values") or ())]
    return "high" if "high" in values else None


class Channel:
    """One configured channel: its Apprise clients and what its service supports."""

    def __init__(self, cfg: ChannelSettings) -> None:
        self.cfg = cfg
        self.name = cfg.name
        url = cfg.url.get_secret_value()
        register_secret(url)
        if cfg.feed_token is not None:
            register_secret(cfg.feed_token.get_secret_value())
        self.error: str | None = None
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            self.error = f"channel {cfg.name!r}: Apprise does not recognise its URL"
            self.format, self.attachments = "text", False
            self._client = self._urgent = None
            return
        declared = plugin.notify_format
        formats = declared if isinstance(declared, tuple | list) else (declared,)
        preferred = [str(getattr(f, "value", f)) for f in formats]
        self.format = cfg.format if cfg.format != "auto" else (
            preferred[0] if preferred and preferred[0] in FORMATS else "text")
        self.attachments = bool(getattr(plugin, "attachment_support", False))
        self._client = self._make(url)
        prio = _priority_value(plugin, cfg.urgent_priority)
        self._urgent = None
        if prio and "priority=" not in url:
            self._urgent = self._make(url + ("&" if "?" in url else "?") + f"priority={prio}")
            register_secret(url + ("&" if "?" in url else "?") + f"priority={prio}")

    @property
    def wants_ics(self) -> bool:
        if self.cfg.attach_ics is not None:
            return self.cfg.attach_ics and self.attachments
        return self.attachments and self.format == "html"

    def _make(self, url: str) -> apprise.Apprise:
        # Sent on the calling thread (the channel's dispatcher lane, which has nothing
        # else to do meanwhile): Apprise's own per-service deadline is off, so it does
        # not hand every send to its worker pool only to wait for it. The channel
        # timeout bounds the connect and every wait for an answer at the socket
        # instead (unless the URL sets Apprise's own cto= / rto=). That also means a
        # slow send is never abandoned while it may still get through (a retry after
        # an abandoned send could deliver the message twice).
        client = apprise.Apprise(asset=apprise.AppriseAsset(service_timeout=0))
        client.add(url)
        secs = self.cfg.timeout.total_seconds()
        given = set((parse_url(url) or {}).get("qsd", {}))  # query keys, as Apprise reads them
        for plugin in client:
            plugin.request_rate_per_sec = self._rate(plugin)
            if "cto" not in given:
                plugin.socket_connect_timeout = secs
            if "rto" not in given:
                plugin.socket_read_timeout = secs
        return client

    def _rate(self, plugin: Any) -> float:
        """Least seconds between two sends: the channel's ``rate``, else 1 s for email
        (Apprise's 5.5 s default made one sync's six alerts take half a minute),
        else Apprise's own value for the service."""
        if self.cfg.rate is not None:
            return float(self.cfg.rate)
        if isinstance(plugin, NotifyEmail):
            return EMAIL_RATE
        return float(plugin.request_rate_per_sec)

    def send(self, msg: Message) -> None:
        if self.error is not None or self._client is None:
            raise DeliveryError(self.error or "channel not loaded", permanent=True)
        client = self._urgent if msg.urgent and self._urgent is not None else self._client
        kind = apprise.NotifyType.WARNING if msg.urgent else apprise.NotifyType.INFO
        attach = [AttachMemory(content=data, name=name, mimetype=mime)
                  for name, data, mime in msg.attachments] if self.attachments else None
        t0 = time.monotonic()
        try:
            with _watch_responses() as seen:
                result = client.notify(title=msg.title, body=msg.body, notify_type=kind,
                                       body_format=msg.format, attach=attach or None)
        except Exception as e:  # Apprise raising is a bug or a bad argument, not the sink
            raise DeliveryError(f"channel {self.name!r}: {mask(f'{type(e).__name__}: {e}')}",
                                permanent=True) from None
        if not result:
            reason, permanent = classify(result)
            secs = self.cfg.timeout.total_seconds()
            if time.monotonic() - t0 >= secs * 0.95 and "did not finish" not in reason:
                reason = f"timed out after {secs:g}s (no answer): {reason}"
            wait = None if permanent else _retry_after(seen)
            if wait is not None:
                reason = f"{reason} (Retry-After: {wait:g}s)"
            raise DeliveryError(f"channel {self.name!r}: {reason}", permanent=permanent,
                                retry_after=wait)


class Deliverer:
    """Sends to the configured channels by name."""

    def __init__(self, channels: Sequence[ChannelSettings]) -> None:
        self.channels = {c.name: Channel(c) for c in channels}

    def knows(self, channel: str) -> bool:
        return channel in self.channels or (channel == LOG_CHANNEL and not self.channels)

    def format_for(self, channel: str) -> str:
        ch = self.channels.get(channel)
        return ch.format if ch is not None else "text"

    def wants_ics(self, channel: str) -> bool:
        ch = self.channels.get(channel)
        return ch is not None and ch.wants_ics

    def deliver(self, channel: str, msg: Message) -> None:
        ch = self.channels.get(channel)
        if ch is None:
            if channel == LOG_CHANNEL and not self.channels:
                # An urgent message's title says so already ("URGENT: ..."), as its
                # email subject and chat text do.
                log.info("%s\n%s", msg.title, msg.body)
                return
            raise DeliveryError(f"channel {channel!r} is not configured (any more)",
                                permanent=True)
        ch.send(msg)

    def send(self, channel: str, title: str, body: str, *, urgent: bool = False) -> None:
        self.deliver(channel, Message(title, body, "text", urgent))
