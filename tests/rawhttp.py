"""Raw HTTP/1.1 over a socket, for tests that must send what no client library sends:
a body that never ends, one byte at a time, a head with a huge ``Content-Length``,
a connection dropped in the middle of a body.

:func:`open_request` connects and sends a request head; :class:`Conn` collects what
the server answers without ever blocking for long (every wait is bounded).
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import time

import httpx


class Conn:
    """One connection: what the server sent so far, and whether it closed."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.data = b""
        self.closed = False
        self.closed_at: float | None = None

    def poll(self) -> bool:
        """Read what has arrived (never blocks); True once the server closed."""
        while not self.closed and select.select([self.sock], [], [], 0)[0]:
            try:
                chunk = self.sock.recv(65536)
            except OSError:  # reset: closed too
                chunk = b""
            if not chunk:
                self.closed, self.closed_at = True, time.monotonic()
            self.data += chunk
        return self.closed

    def send(self, data: bytes) -> bool:
        """Send unless the server closed; False when it had (or the send failed)."""
        if self.poll():
            return False
        try:
            self.sock.sendall(data)
        except OSError:
            self.poll()
            return False
        return True

    def wait_closed(self, limit: float) -> bool:
        """Read until the server closes or ``limit`` seconds pass; True if it closed."""
        deadline = time.monotonic() + limit
        while not self.poll() and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.closed

    @property
    def status(self) -> int | None:
        m = re.match(rb"HTTP/1\.1 (\d{3}) ", self.data)
        return int(m.group(1)) if m else None

    @property
    def body(self) -> str:
        return self.data.partition(b"\r\n\r\n")[2].decode("utf-8", "replace")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def open_request(url: str, method: str, target: str, headers: dict[str, str],
                 body: bytes = b"") -> Conn:
    """Connect to the server at ``url`` and send a request head (plus ``body``)."""
    u = httpx.URL(url)
    sock = socket.create_connection((u.host, u.port or 80), timeout=10)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {u.host}:{u.port}",
             *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    return Conn(sock)
