"""Test helpers for the web layer: a real uvicorn server on 127.0.0.1, port 0.

Use ``with LiveServer(app) as srv: httpx.get(srv.url + "/...")``. Start-up and
shut-down waits are bounded; the server runs in a daemon thread. It is configured
as the daemon configures it (:func:`notifier.server.http.uvicorn_config`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from notifier.server.http import uvicorn_config

WEINSTEIN = Path(__file__).resolve().parent.parent / "calendars" / "people-v-weinstein.toml"


class LiveServer:
    def __init__(self, app: ASGIApp, *, access_log: bool = False, port: int = 0,
                 client_timeout: float = 10.0, trusted_proxies: Sequence[str] = ()) -> None:
        config = uvicorn_config(app, "127.0.0.1", port, client_timeout=client_timeout,
                                trusted_proxies=trusted_proxies, lifespan="on",
                                log_level="info" if access_log else "warning",
                                access_log=access_log, log_config=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = ""

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start within 15 s")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def write_config(path: Path, db_url: str, calendars: Path, **feed: object) -> Path:
    """A config file pointing at a test database and calendar folder.

    A folder next to the config file is written relative to it, so its source
    labels match the ``folders`` fixture's ("calendars/...").
    """
    folder = calendars.name if calendars.parent == path.parent else str(calendars)
    lines = [
        "[database]", f'url = "{db_url}"',
        "[calendars]", f'paths = ["{folder}"]',
        "[server]", 'base_url = "https://court.example.org"',
        "[feed]",
    ]
    for k, v in feed.items():
        lines.append(f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
