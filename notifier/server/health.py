"""The ``/healthz`` report: is the database reachable, is the scheduler ticking.

Call :func:`health_report` with the store and (in the daemon) the engine. It returns
a :class:`HealthReport`: HTTP status 200 when healthy, 503 when the database is
unreachable or the scheduler is stopped or stuck. Sync errors, failing sources and
channels, and dead notifications are reported but keep the status 200 ("degraded"), because a
restart would not fix them. Nothing secret is included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..config import Settings
from ..notify import outbox
from ..store import Store
from ..timeutil import utcnow

if TYPE_CHECKING:
    from .scheduler import Engine


@dataclass
class HealthReport:
    status_code: int
    body: dict[str, Any] = field(default_factory=dict)


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat(timespec="seconds") if dt else None


def stuck_after(settings: Settings) -> timedelta:
    """How long without a scheduler tick counts as stuck."""
    return max(3 * settings.delivery.poll_interval, timedelta(minutes=2))


def health_report(store: Store, engine: Engine | None, settings: Settings,
                  now: datetime | None = None) -> HealthReport:
    now = now or utcnow()
    body: dict[str, Any] = {}
    healthy = True
    degraded = False
    try:
        with store.read() as s:
            s.exec(sa.select(1))  # type: ignore[call-overload]
            counts = outbox.counts(s)
        body["database"] = "ok"
    except sa.exc.SQLAlchemyError:
        body["database"] = "unreachable"
        counts = None
        healthy = False
    if counts is not None:
        body["notifications"] = {k: counts.get(k, 0) for k in ("pending", "sending", "failed",
                                                                "dead")}
        degraded |= counts.get("dead", 0) > 0
    if engine is not None:
        last_tick = engine.last_tick
        stuck = last_tick is None or now - last_tick > stuck_after(settings)
        running = engine.running
        dispatcher = engine.dispatcher_alive
        body["scheduler"] = {"running": running, "last_tick": _iso(last_tick),
                             "stuck": bool(running and stuck), "dispatcher": dispatcher}
        healthy &= running and not stuck and dispatcher
        report = engine.last_sync
        body["last_sync"] = None if report is None else {
            "at": _iso(engine.last_sync_at), "ok": report.ok, "files": report.files,
            "changes": len(report.changes), "errors": len(report.errors)}
        degraded |= report is not None and not report.ok
        # Dispatch lanes whose database work keeps failing (a full disk): they back off
        # and lose nothing, but nothing is sent either. A reason class, never the text.
        failing = engine.dispatcher.lane_failures()
        if failing:
            body["dispatch_lanes"] = [
                {"lane": f.lane, "failing_since": _iso(f.since), "failures": f.failures,
                 "reason": f.reason} for f in failing]
            degraded |= any(f.persistent for f in failing)
    if settings.channels and counts is not None:
        from ..notify.channel_health import channel_status

        try:
            with store.read() as s:
                chans = channel_status(s, settings)
            # Names and counts only: never a URL.
            body["channels"] = [{"name": c.name, "healthy": c.healthy,
                                 "consecutive_failures": c.consecutive_failures,
                                 "last_success": _iso(c.last_success), "dead": c.dead}
                                for c in chans]
            degraded |= not all(c.healthy for c in chans)
        except sa.exc.SQLAlchemyError:
            pass
    if settings.sources:
        from ..sources import source_status

        try:
            statuses = source_status(store, settings)
            body["sources"] = [st.as_dict() for st in statuses]
            degraded |= not all(st.healthy for st in statuses)
        except sa.exc.SQLAlchemyError:
            pass
    body = {"status": "error" if not healthy else "degraded" if degraded else "ok", **body}
    return HealthReport(200 if healthy else 503, body)
