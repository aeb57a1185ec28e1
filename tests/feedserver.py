"""A tiny HTTP server on 127.0.0.1 serving changeable fixture feeds (test helper).

``FeedServer`` serves ``routes[path] = Route(...)``; it answers conditional
requests with 304 when the ETag matches, can delay (bounded), fail, redirect,
and records every request's path and headers.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/calendar; charset=utf-8"
    etag: bool = True  # send an ETag and honour If-None-Match
    delay: float = 0.0  # seconds before answering (bounded by the server's release event)
    headers: dict[str, str] = field(default_factory=dict)
    redirect: str | None = None
    chunked_extra: int = 0  # stream this many extra bytes without a Content-Length


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, dict(self.headers.items())))
                route = server.routes.get(self.path.split("?")[0])
                if route is None:
                    self._send(404, b"not found", {})
                    return
                if route.delay:
                    server.release.wait(route.delay)
                if route.redirect:
                    self._send(302, b"", {"Location": route.redirect})
                    return
                headers = {"Content-Type": route.content_type, **route.headers}
                if route.status == 200 and route.etag:
                    tag = '"' + hashlib.sha256(route.body).hexdigest()[:16] + '"'
                    headers["ETag"] = tag
                    if self.headers.get("If-None-Match") == tag:
                        self._send(304, b"", {"ETag": tag})
                        return
                if route.chunked_extra:
                    self.send_response(route.status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    try:
                        self.wfile.write(route.body)
                        self.wfile.write(b"x" * route.chunked_extra)
                    except OSError:
                        pass  # the client stopped reading, as it should
                    self.close_connection = True
                    return
                self._send(route.status, route.body, headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> FeedServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
