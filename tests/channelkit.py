"""Real local servers for channel tests: an HTTP sink with scripted answers, an SMTP server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class HttpSink:
    """HTTP server on 127.0.0.1 answering POSTs with scripted status codes.

    ``codes`` are used in order (the last one repeats); ``hang`` seconds of delay
    before answering simulate a sink that does not respond.
    """

    def __init__(self, codes: list[int] | None = None, hang: float = 0.0) -> None:
        self.codes = list(codes or [200])
        self.hang = hang
        self.requests: list[tuple[str, dict[str, Any] | str]] = []
        self.times: list[float] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body: dict[str, Any] | str = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                with sink.lock:
                    sink.requests.append((self.path, body))
                    sink.times.append(time.monotonic())
                    code = sink.codes.pop(0) if len(sink.codes) > 1 else sink.codes[0]
                if sink.hang:
                    time.sleep(sink.hang)
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def json_url(self, path: str = "hook", query: str = "") -> str:
        return f"json://127.0.0.1:{self.port}/{path}" + (f"?{query}" if query else "")

    def __enter__(self) -> HttpSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server(refuse: dict[str, str] | None = None) -> Iterator[tuple[int, list[Message]]]:
    """An aiosmtpd server on 127.0.0.1 (no TLS, no auth); yields (port, received mails).

    ``refuse`` maps a recipient address to the answer its ``RCPT TO`` gets (e.g.
    ``"550 5.1.1 no such user"``); the caller may change it while the server runs."""
    from aiosmtpd.controller import Controller

    received: list[Message] = []
    refusals = refuse if refuse is not None else {}

    class Handler:
        async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                              rcpt_options: Any) -> str:
            if address.lower() in refusals:
                return refusals[address.lower()]
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(message_from_bytes(envelope.content))
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()
