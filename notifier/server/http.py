"""Listening socket and uvicorn settings for the daemon, with a guard against slow clients.

Call :func:`listen` in the starting thread (a bind failure is a plain
:class:`~notifier.errors.NotifierError`), then :func:`uvicorn_config` and run
``uvicorn.Server(config).run(sockets=[sock])``.

Why a guard: uvicorn bounds idle keep-alive connections (``timeout_keep_alive``)
and header size (h11), but not the time a client takes to send its request
headers, and any byte it sends cancels the keep-alive timer; nor does it bound a
response that the client never reads. So each connection here gets a deadline
for every request's headers, and a response whose write buffer makes no progress
for ``client_timeout`` is aborted. The keep-alive timeout stays uvicorn's.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import h11
import uvicorn
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
        self._write_timer: asyncio.TimerHandle | None = None
        self._write_left = 0
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_deadline()
        self._cancel_write_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_header_deadline()  # a whole request head has arrived

    def on_response_complete(self) -> None:
        super().on_response_complete()
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


def uvicorn_config(app: Any, host: str, port: int, *, client_timeout: float,
                   **options: Any) -> uvicorn.Config:
    """uvicorn settings with :class:`GuardedH11Protocol` timing out after ``client_timeout``."""
    protocol = type("GuardedH11", (GuardedH11Protocol,), {"client_timeout": client_timeout})
    return uvicorn.Config(app, host=host, port=port, http=protocol,
                          timeout_keep_alive=min(5, int(client_timeout)), **options)
