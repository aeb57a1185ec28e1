"""Several daemons on one PostgreSQL database: who leads, who is alive, which channels.

A :class:`Cluster` per daemon process. On PostgreSQL it

- registers the daemon in ``cluster_daemon`` (host, pid, role, version, config
  fingerprint, channels) and refreshes its heartbeat every :func:`tick` seconds;
- elects one leader with a PostgreSQL *session* advisory lock held on a connection of
  its own: the cluster-wide singletons (calendar sync, source polling, digest
  planning, re-plan, housekeeping) run only where :meth:`Cluster.leads` is true. When
  the leader dies its session ends and the lock is free at once; a leader cut off from
  the database is dropped by the server after ``[cluster] failover``
  (``idle_session_timeout``), so another daemon takes over within that;
- tells the dispatcher and the planner which channels other daemons know
  (:meth:`Cluster.protected`): their rows are never claimed as "not configured",
  dead-lettered or withdrawn here, until no daemon that knew the channel has been
  seen for ``[cluster] channel_grace``.

On SQLite there is one daemon per database: it always leads (when its role may)
and nothing is recorded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, delete, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlmodel import col

from .. import __version__
from ..config import Settings
from ..store import Store
from ..store.models import DaemonRow
from ..timeutil import utcnow

log = logging.getLogger(__name__)
ROLES = ("all", "worker", "web")
LEADER_LOCK_KEY = 0x6E6F6C64  # "nold": the session advisory lock the leader holds
# Rows of daemons not seen for this long are deleted (their channels long unprotected).
FORGET_AFTER = timedelta(days=7)


def config_fingerprint(settings: Settings) -> str:
    """A short digest of the settings that must be the same on every daemon.

    Secrets are masked by pydantic before hashing (a differing secret is not seen,
    and the digest reveals nothing); the listen address and port may differ."""
    data = settings.model_dump(mode="json", exclude={"origin", "base_dir"})
    data.get("server", {}).pop("host", None)
    data.get("server", {}).pop("port", None)
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def tick(settings: Settings) -> float:
    """Seconds between heartbeats and leadership checks: a third of the failover time."""
    return max(settings.cluster.failover.total_seconds() / 3, 0.2)


@dataclass(frozen=True)
class DaemonInfo:
    """A daemon as ``notifier cluster`` lists it."""

    id: str
    host: str
    pid: int
    role: str
    may_lead: bool
    leader: bool
    version: str
    config_fp: str
    channels: tuple[str, ...]
    started_at: datetime
    heartbeat_at: datetime

    @classmethod
    def of(cls, row: DaemonRow) -> DaemonInfo:
        return cls(row.id, row.host, row.pid, row.role, row.may_lead, row.leader, row.version,
                   row.config_fp, tuple(json.loads(row.channels)), row.started_at,
                   row.heartbeat_at)


def live_daemons(store: Store, settings: Settings, now: datetime) -> list[DaemonInfo]:
    """Daemons whose heartbeat is younger than ``[cluster] failover``, leader first."""
    cutoff = now - settings.cluster.failover
    with store.read() as s:
        rows = s.execute(select(DaemonRow).where(
            col(DaemonRow.heartbeat_at) > cutoff, col(DaemonRow.stopped_at).is_(None))).all()
    found = [DaemonInfo.of(r[0]) for r in rows]
    return sorted(found, key=lambda d: (not d.leader, d.host, d.pid))


def mismatches(daemons: list[DaemonInfo]) -> list[str]:
    """What differs between live daemons that should not (for ``notifier cluster``)."""
    out: list[str] = []
    if len({d.config_fp for d in daemons}) > 1:
        out.append("config fingerprints differ: " + ", ".join(
            f"{d.host}:{d.pid}={d.config_fp}" for d in daemons))
    if len({d.version for d in daemons}) > 1:
        out.append("versions differ: " + ", ".join(f"{d.host}:{d.pid}={d.version}"
                                                    for d in daemons))
    workers = [d for d in daemons if d.role != "web"]
    if len({d.channels for d in workers}) > 1:
        every = set.union(*(set(d.channels) for d in workers))
        for d in workers:
            missing = sorted(every - set(d.channels))
            if missing:
                out.append(f"{d.host}:{d.pid} does not know channel(s) {', '.join(missing)}")
    if daemons and sum(d.leader for d in daemons) == 0:
        out.append("no leader: calendar sync, source polling and planning are not running "
                   "(is any daemon allowed to lead?)")
    return out


class Cluster:
    """This daemon's membership: heartbeat, leadership, channels known elsewhere."""

    def __init__(self, store: Store, settings: Settings, *, role: str = "all",
                 may_lead: bool = True, clock: Callable[[], datetime] = utcnow) -> None:
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
        self.store = store
        self.settings = settings
        self.role = role
        self.may_lead = may_lead and role != "web"
        self.clock = clock
        self.shared = store.dialect == "postgresql"
        self.id = uuid.uuid4().hex
        self.channels = sorted(c.name for c in settings.channels)
        self.fingerprint = config_fingerprint(settings)
        self.on_elected: Callable[[], None] | None = None
        self._leader = not self.shared and self.may_lead
        self._lock_conn: Connection | None = None
        self._lock_engine: Engine | None = None
        self._conn_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._protected: tuple[float, frozenset[str]] = (-1.0, frozenset())
        self._started = clock()

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        """Register, try to lead once (so a lone daemon leads from its first moment),
        then keep the heartbeat and leadership fresh in a thread."""
        if not self.shared:
            return
        self._elect()
        self._beat(first=True)
        self._thread = threading.Thread(target=self._loop, name="cluster", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Give up leadership and say so (another daemon takes over at its next tick)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if not self.shared:
            return
        self._resign()
        try:
            with self.store.write() as s:
                s.execute(update(DaemonRow).where(col(DaemonRow.id) == self.id)
                          .values(stopped_at=self.clock(), leader=False,
                                  heartbeat_at=self.clock()))
        except SQLAlchemyError as e:
            log.warning("cluster: could not record this daemon's stop: %s", type(e).__name__)

    # -- leadership -------------------------------------------------------------
    @property
    def leader(self) -> bool:
        return self._leader

    def leads(self) -> bool:
        """Whether this daemon runs the singletons now; checks that the lock's session is
        still there (a leader cut off from the database stops at once)."""
        if not self.shared or not self._leader:
            return self._leader
        with self._conn_lock:
            conn = self._lock_conn
            if conn is None:
                return False
            try:
                conn.execute(text("SELECT 1")).scalar()
                return True
            except SQLAlchemyError as e:
                log.warning("cluster: lost leadership (the lock's session failed: %s)",
                            type(e).__name__)
                self._drop_conn()
                self._leader = False
                return False

    def _elect(self) -> None:
        if not self.may_lead or self._stop.is_set():
            return
        if self._leader:
            self.leads()  # a ping: drops leadership if the session is gone
            return
        with self._conn_lock:
            try:
                if self._lock_conn is None:
                    self._lock_conn = self._connect()
                got = bool(self._lock_conn.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY}).scalar())
            except SQLAlchemyError as e:
                log.debug("cluster: election attempt failed: %s", type(e).__name__)
                self._drop_conn()
                return
        if got:
            self._leader = True
            log.info("cluster: this daemon (%s:%d) is the leader: it runs calendar sync, "
                     "source polling and planning", socket.gethostname(), os.getpid())
            try:
                self._beat()  # others see the new leader now, not at the next tick
            except SQLAlchemyError as e:
                log.warning("cluster: heartbeat failed: %s", type(e).__name__)
            if self.on_elected is not None:
                self.on_elected()

    def _connect(self) -> Connection:
        failover = max(int(self.settings.cluster.failover.total_seconds() * 1000), 1000)
        # Autocommit: the session stays idle between pings (never "idle in transaction"),
        # and the lock is a session lock, not tied to a transaction.
        if self._lock_engine is None:
            self._lock_engine = create_engine(
                self.store.url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                connect_args={"connect_timeout": 5, "tcp_user_timeout": failover})
        conn = self._lock_engine.connect()
        # The server ends the session (and frees the lock) of a leader silent this
        # long; the leader pings every tick, a third of it.
        conn.execute(text(f"SET idle_session_timeout = {failover}"))
        return conn

    def _drop_conn(self) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except SQLAlchemyError:
                pass

    def _resign(self) -> None:
        with self._conn_lock:
            self._drop_conn()  # closing the session frees the lock
        self._leader = False

    # -- heartbeat ----------------------------------------------------------------
    def _loop(self) -> None:
        every = tick(self.settings)
        while not self._stop.wait(every):
            was = self._leader
            self._elect()
            if was and not self._leader:
                log.warning("cluster: this daemon is no longer the leader")
            try:
                self._beat()
            except SQLAlchemyError as e:
                log.warning("cluster: heartbeat failed: %s", type(e).__name__)

    def _beat(self, *, first: bool = False) -> None:
        now = self.clock()
        values: dict[str, Any] = {"heartbeat_at": now, "leader": self._leader}
        with self.store.write() as s:
            if first:
                s.add(DaemonRow(id=self.id, host=socket.gethostname()[:255], pid=os.getpid(),
                                role=self.role, may_lead=self.may_lead, leader=self._leader,
                                version=__version__, config_fp=self.fingerprint,
                                channels=json.dumps(self.channels), started_at=now,
                                heartbeat_at=now))
                s.execute(delete(DaemonRow).where(
                    col(DaemonRow.heartbeat_at) < now - FORGET_AFTER))
            else:
                s.execute(update(DaemonRow).where(col(DaemonRow.id) == self.id)
                          .values(**values))

    # -- channels -------------------------------------------------------------------
    def protected(self) -> frozenset[str] | None:
        """Channels that a daemon seen within ``[cluster] channel_grace`` knows (this
        one's own included); cached for a tick. Empty on SQLite.

        None while this daemon has run for less than ``channel_grace``: a channel
        that no daemon knows now may belong to one that is starting (a rolling
        change), so no row of an unknown channel is dead-lettered yet."""
        if not self.shared:
            return frozenset()
        import time

        if self.clock() - self._started < self.settings.cluster.channel_grace:
            return None
        at, cached = self._protected
        if at >= 0 and time.monotonic() - at < tick(self.settings):
            return cached
        cutoff = self.clock() - self.settings.cluster.channel_grace
        try:
            with self.store.read() as s:
                rows = s.execute(select(col(DaemonRow.channels)).where(
                    col(DaemonRow.heartbeat_at) > cutoff)).all()
        except SQLAlchemyError:
            # Not knowing is no reason to dead-letter anything: keep the last answer;
            # with none, fail (the lane backs off and asks again).
            if at < 0:
                raise
            return cached
        found = frozenset(name for (blob,) in rows for name in json.loads(blob))
        self._protected = (time.monotonic(), found)
        return found
