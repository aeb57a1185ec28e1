"""Listening socket and uvicorn settings for the daemon, with a guard against slow clients.

Call :func:`listen` in the starting thread (a bind failure is a plain
:class:`~notifier.errors.NotifierError`), then :func:`uvicorn_config` and run
``uvicorn.Server(config).run(sockets=[sock])``.

Why a guard: uvicorn bounds idle keep-alive connections (``timeout_keep_alive``)
and header size (h11), but not the time a client takes to send its request
headers or body, and any byte it sends cancels the keep-alive timer; nor does it
bound a response that the client never reads. So each connection here gets a
deadline for every request's headers (``client_timeout``) and body (twice that:
handlers that read a body answer 408 after ``client_timeout``, :mod:`.forms`; this
closes the connection of any other), and a response whose write buffer makes no
progress for ``client_timeout`` is aborted. The keep-alive timeout stays uvicorn's.

Client addresses: uvicorn's own ``X-Forwarded-For`` handling (on by default, trusting
127.0.0.1 or ``$FORWARDED_ALLOW_IPS``) is off; :class:`TrustedProxies` believes those
headers only from ``[server] trusted_proxies``, and only a plain IP address. Every
client-controlled value in an access-log line is escaped (:class:`EscapeAccessLog`),
so no request can end a line or forge another.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from collections.abc import Sequence
from typing import Any

import h11
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..errors import NotifierError

_BACKLOG = 2048  # uvicorn's default


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when the host has a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=_BACKLOG)
    except OSError as e:
        raise NotifierError(
            f"cannot listen on {host}:{port}: {e.strerror or e} "
            "(set [server] host/port, --port or NOTIFIER_PORT)") from e


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and a stalled-write deadline."""

    client_timeout = 10.0  # replaced per server by :func:`uvicorn_config`

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._write_left = 0
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_deadline()
        self._cancel_body_deadline()
        self._cancel_write_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_body()
        if self.conn.their_state is not h11.IDLE:
            self._cancel_header_deadline()  # a whole request head has arrived

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch_body()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm_header_deadline()  # the next request on this connection

    def pause_writing(self) -> None:
        super().pause_writing()
        self._write_left = self.transport.get_write_buffer_size()
        self._arm_write_deadline()

    def resume_writing(self) -> None:
        self._cancel_write_deadline()
        super().resume_writing()

    # -- deadlines -----------------------------------------------------------------
    def _arm_header_deadline(self) -> None:
        self._cancel_header_deadline()
        self._header_timer = self.loop.call_later(self.client_timeout, self._header_expired)

    def _cancel_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_expired(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def _watch_body(self) -> None:
        """A body is being sent: it has ``2 * client_timeout`` from its request head."""
        if self.conn.their_state is h11.SEND_BODY:
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(2 * self.client_timeout,
                                                        self._body_expired)
        else:
            self._cancel_body_deadline()

    def _cancel_body_deadline(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_expired(self) -> None:
        self._body_timer = None
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            self.transport.close()  # a handler still reading it sees a disconnect

    def _arm_write_deadline(self) -> None:
        self._cancel_write_deadline()
        self._write_timer = self.loop.call_later(self.client_timeout, self._write_check)

    def _cancel_write_deadline(self) -> None:
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_check(self) -> None:
        """A slow reader that still makes progress keeps its connection."""
        self._write_timer = None
        left = self.transport.get_write_buffer_size()
        if left and left >= self._write_left:
            self.transport.abort()  # close() would wait for the buffer to drain
            return
        self._write_left = left
        self._arm_write_deadline()


def _plain_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``text`` as an IP address (``[v6]`` or ``v4:port`` forms too), else None."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1:text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return None
        return ip.ipv4_mapped or ip  # a dual-stack socket's view of an IPv4 peer
    return ip


class TrustedProxies:
    """ASGI middleware: the client of a request that came through a trusted proxy.

    For a connection from one of ``proxies`` (addresses or networks), the client is
    the right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy (each
    proxy appends the address it saw), and ``X-Forwarded-Proto`` (http/https) the
    scheme. An entry that is not a plain IP address leaves the proxy as the client.
    Every other connection's headers are ignored.
    """

    def __init__(self, app: ASGIApp, proxies: Sequence[str]) -> None:
        self.app = app
        self.networks = [ipaddress.ip_network(p) for p in proxies]

    def _trusted(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        return ip is not None and any(ip in net for net in self.networks)

    def _client(self, forwarded: list[str]) -> str | None:
        hops = [h for v in forwarded for h in v.split(",")]
        for hop in reversed(hops):
            ip = _plain_ip(hop)
            if ip is None:
                return None  # a hop no proxy wrote: believe nothing further left
            if not self._trusted(ip):
                return str(ip)
        first = _plain_ip(hops[0]) if hops else None  # every hop a trusted proxy
        return str(first) if first is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if scope["type"] in ("http", "websocket") and peer \
                and self._trusted(_plain_ip(str(peer[0]))):
            forwarded = [v.decode("latin-1") for k, v in scope["headers"]
                         if k == b"x-forwarded-for"]
            client = self._client(forwarded) if forwarded else None
            if client is not None:
                scope["client"] = (client, 0)
            for k, v in scope["headers"]:
                if k == b"x-forwarded-proto" and v.strip().lower() in (b"http", b"https"):
                    scope["scheme"] = v.strip().lower().decode("ascii")
        await self.app(scope, receive, send)


_UNSAFE = re.compile(r'[\x00-\x1f\x7f-\x9f"\\]')


def _escape(text: str) -> str:
    return _UNSAFE.sub(lambda m: "\\" + m.group() if m.group() in '"\\'
                       else f"\\x{ord(m.group()):02x}", text)


class EscapeAccessLog(logging.Filter):
    """Escapes quotes, backslashes and control characters in access-log values
    (client address, path, query): the line stays one line with its own quotes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_escape(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_access_log_filter() -> None:
    """Attach :class:`EscapeAccessLog` to uvicorn's access logger (idempotent)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, EscapeAccessLog) for f in access.filters):
        access.addFilter(EscapeAccessLog())


def uvicorn_config(app: Any, host: str, port: int, *, client_timeout: float,
                   trusted_proxies: Sequence[str] = (), **options: Any) -> uvicorn.Config:
    """uvicorn settings with :class:`GuardedH11Protocol` timing out after ``client_timeout``,
    forwarded headers believed from ``trusted_proxies`` only (:class:`TrustedProxies`),
    and the access log escaped (:class:`EscapeAccessLog`)."""
    install_access_log_filter()
    protocol = type("GuardedH11", (GuardedH11Protocol,), {"client_timeout": client_timeout})
    if trusted_proxies:
        app = TrustedProxies(app, trusted_proxies)
    return uvicorn.Config(app, host=host, port=port, http=protocol, proxy_headers=False,
                          timeout_keep_alive=min(5, int(client_timeout)), **options)
