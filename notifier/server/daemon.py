"""The daemon: one process that syncs, plans, dispatches and serves.

Call :func:`run` (what ``notifier run`` does) or build a :class:`Daemon` in tests.

Threads, not one event loop: the HTTP server (uvicorn, its own asyncio loop) runs in
a thread; APScheduler's BackgroundScheduler runs the sync, wake-up, safety and
housekeeping jobs in its pool; one dispatcher thread sends notifications. The main
thread only waits for signals. Everything shares one :class:`~notifier.store.Store`.

Start-up: :meth:`Daemon.start` binds the port itself (a failure says so plainly),
starts the HTTP server, and only then the engine (the database's integrity check and
the re-plan of every reminder), so that ``all.ics`` is served from its stored
snapshot meanwhile; ``/readyz`` says "starting" until the engine started (the
database checked) and "warming" until the feed cache is warm, which it does in
the background. A failed check stops the HTTP server again and start() raises.

Signals: SIGTERM/SIGINT stop taking new work, let in-flight deliveries finish
(bounded by ``shutdown_timeout``), hand claimed rows not yet sent back, close the
database and exit 0; a send still running at the timeout is left to its lease (sent
again after the next start, once the lease runs out). A second signal exits at once
(status 1). SIGHUP re-reads the calendar files now (every one, hashed; other
settings need a restart, and the log says which sections of the config file changed
since start, or that it now has an error: :mod:`notifier.config.drift`).
``run(demo=True)`` adds the demo case (:mod:`.demo`).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from types import FrameType
from typing import Any

import uvicorn

from .. import __version__
from ..config import Settings
from ..config.drift import reload_note
from ..errors import NotifierError
from ..feeds import onecopy
from ..feeds.cache import FeedService
from ..notify.delivery import Sender
from ..store import Store
from ..timeutil import utcnow
from .cluster import Cluster
from .demo import Demo
from .health import HealthReport, health_report
from .http import listen, uvicorn_config
from .pages import base_url_port_warning, base_url_warning
from .scheduler import Engine
from .web import create_app

log = logging.getLogger(__name__)


class Daemon:
    """Store + engine + HTTP server, started and stopped together."""

    def __init__(self, settings: Settings, *, host: str | None = None, port: int | None = None,
                 clock: Callable[[], datetime] = utcnow, sender: Sender | None = None,
                 role: str = "all", may_lead: bool = True) -> None:
        self.host = host or settings.server.host
        port = settings.server.port if port is None else port
        # Port 0: the system chooses, and links (base_url not set) need the port it
        # chose before anything is built, so that one port is bound now.
        self._socket: socket.socket | None = listen(self.host, 0) if port == 0 else None
        if self._socket is not None:
            port = int(self._socket.getsockname()[1])
        self.settings = settings = settings.listening_on(port)
        try:
            self.store = Store(settings.database_url())
        except BaseException:
            if self._socket is not None:
                self._socket.close()
            raise
        self.cluster = Cluster(self.store, settings, role=role, may_lead=may_lead, clock=clock)
        self.engine = Engine(self.store, settings, clock=clock, sender=sender,
                             cluster=self.cluster, dispatch=role != "web")
        self.feeds = FeedService.from_settings(self.store, settings, clock=clock)
        self._started = threading.Event()  # the engine started: the database was checked
        self.app = create_app(settings, self.store, self.feeds, health=self.health,
                              started=self._started.is_set)
        if role != "web":  # a sign-up's confirmation email goes out at once
            self.app.state.wake_dispatch = self.engine.dispatcher.kick
        config = uvicorn_config(self.app, self.host, port,
                                client_timeout=settings.server.client_timeout.total_seconds(),
                                trusted_proxies=settings.server.trusted_proxies,
                                log_config=None, access_log=True, lifespan="on",
                                timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self._http: threading.Thread | None = None

    def health(self) -> HealthReport:
        return health_report(self.store, self.engine, self.settings)

    @property
    def port(self) -> int:
        if self._socket is not None and self._socket.fileno() != -1:
            return int(self._socket.getsockname()[1])
        return self.server.config.port

    def bind(self) -> None:
        """Bind the port now (start() does if not done): before any work that should not
        happen when another process holds the port. Fails plainly."""
        if self._socket is None:
            self._socket = listen(self.host, self.server.config.port)

    def start(self, timeout: float = 15.0) -> None:
        """Bind the port, start the HTTP server, then the engine. ``timeout`` bounds only
        uvicorn taking the bound socket (the feed cache warms afterwards)."""
        self.bind()  # before any work: fails plainly (a port 0 was bound already)
        sock = self._socket
        assert sock is not None
        try:
            self.cluster.start()
        except BaseException:
            sock.close()
            raise
        self._socket = sock
        self._http = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                      name="http", daemon=True)
        self._http.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._http.is_alive() or time.monotonic() > deadline:
                self.server.should_exit = True
                self.engine.shutdown(2.0)
                self.cluster.stop()
                where = f"{self.host}:{self.port}"
                sock.close()
                what = ("stopped" if not self._http.is_alive()
                        else f"did not answer within {timeout:g} s")
                raise NotifierError(
                    f"the HTTP server on {where} {what} after binding the port "
                    "(see the log above)")
            time.sleep(0.02)
        try:  # the port answers meanwhile: all.ics from its snapshot, /readyz "starting"
            self.engine.start()
        except BaseException:
            self.server.should_exit = True
            self.engine.shutdown(2.0)
            self._http.join(timeout=10)
            self.cluster.stop()
            sock.close()
            raise
        self._started.set()

    def stop(self, timeout: float = 20.0) -> bool:
        """Graceful stop; True when every in-flight delivery finished in time."""
        self.server.should_exit = True
        clean = self.engine.shutdown(timeout)
        self.cluster.stop()
        if self._http is not None:
            self._http.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        try:  # so that the next start serves all.ics at once
            self.feeds.save_snapshot()
        except Exception as e:
            log.warning("feed snapshot not stored at shutdown: %s", e)
        self.store.close()
        return clean


def run(settings: Settings, *, host: str | None = None, port: int | None = None,
        shutdown_timeout: float = 20.0, role: str = "all", may_lead: bool = True,
        demo: bool = False) -> int:
    """Run until SIGTERM/SIGINT. Returns the process exit status."""
    stop = threading.Event()
    onecopy.map_large_blocks()  # a long-running process: freed megabytes go back at once
    daemon = Daemon(settings, host=host, port=port, role=role, may_lead=may_lead)
    demo_folders = settings.calendar_folders()
    if demo and not demo_folders:
        raise NotifierError("--demo needs a calendar folder ([calendars] paths is empty)")
    show = Demo(demo_folders[0][1], daemon.engine.sync_now,
                label=demo_folders[0][0]) if demo else None
    if show is not None:
        daemon.bind()  # a second `run --demo` on a taken port stops before touching the demo
        show.reset(daemon.store)  # quietly: this run's dates are no change of the last's
        show.write()

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            os._exit(1)
        log.info("%s received: shutting down", signal.Signals(signum).name)
        stop.set()

    def reload() -> None:
        daemon.engine.sync_now(verify=True)
        if (note := reload_note(settings)) is not None:
            log.warning("%s", note)

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        log.info("SIGHUP: re-reading calendar files")
        threading.Thread(target=reload, name="sighup-sync", daemon=True).start()

    previous: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, on_stop)
    if hasattr(signal, "SIGHUP"):
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    try:
        daemon.start()
        if show is not None:
            show.start()
        channels = ", ".join(c.name for c in settings.channels) or "log only (no [[channels]])"
        folders = ", ".join(str(p) for _, p in settings.calendar_folders())
        base_url = daemon.settings.server.base_url  # following the port, when not set
        log.info("notifier %s: serving http://%s:%s/ (base URL %s); calendars: %s; channels: %s;"
                 " role %s%s", __version__, daemon.host, daemon.port, base_url,
                 folders, channels, role, "" if daemon.cluster.may_lead else " (never leads)")
        for why in (base_url_warning(base_url, daemon.host),
                    base_url_port_warning(base_url, daemon.port)):
            if why is not None:
                log.warning("%s", why)
        while not stop.wait(0.5):
            pass
        if show is not None:
            show.stop()
        clean = daemon.stop(shutdown_timeout)
        if not clean:
            log.warning("shutdown timeout: unfinished deliveries are left to their lease "
                        "and retried after the next start")
            log.info("stopped")
            # A send still waiting on its channel's timeout would hold the interpreter
            # (it joins every worker thread on exit) past the shutdown timeout.
            logging.shutdown()
            os._exit(0)
        log.info("stopped")
        return 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
