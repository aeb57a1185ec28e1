"""The ``/healthz`` report: is the database reachable, is the scheduler ticking.

Call :func:`health_report` with the store and (in the daemon) the engine. It returns
a :class:`HealthReport`: HTTP status 200 when healthy, 503 when the database is
unreachable, its file was deleted, replaced or fails its integrity check, or the
scheduler is stopped or stuck. Sync errors, a scheduled job that raised, a full disk,
failing sources and channels, and dead notifications are reported but keep the status
200 ("degraded"), because a restart would not fix them. Nothing secret is included;
with ``[feed] private`` only counts and states (:func:`private_view`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..config import Settings
from ..display import mask_urls
from ..logs import mask
from ..notify import outbox
from ..store import Store
from ..store.watch import FATAL
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
        cluster = getattr(engine, "cluster", None)  # tests pass stand-in engines
        if cluster is not None and cluster.shared:
            body["cluster"] = {"role": cluster.role, "leader": cluster.leader}
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
    fatal, trouble = database_problems(store, body)
    healthy &= not fatal
    degraded |= trouble
    if engine is not None:
        degraded |= job_failures(engine, body)
    body = {"status": "error" if not healthy else "degraded" if degraded else "ok", **body}
    if settings.feed.private:
        body = private_view(body)
    return HealthReport(200 if healthy else 503, body)


def database_problems(store: Store, body: dict[str, Any]) -> tuple[bool, bool]:
    """Adds ``database_problems``; returns (503-worthy, degraded).

    The file check is one ``stat``, so every report has it fresh; the integrity
    check runs on the engine's schedule and its result is kept in ``store.watch``.
    """
    store.watch.check_file()
    problems = store.watch.problems()
    if not problems:
        return False, False
    body["database_problems"] = [{"problem": p.kind, "since": _iso(p.since), "detail": p.detail}
                                 for p in problems]
    fatal = any(p.kind in FATAL for p in problems)
    if fatal:
        body["database"] = next(p.kind for p in problems if p.kind in FATAL)
    return fatal, not fatal


def job_failures(engine: Engine, body: dict[str, Any]) -> bool:
    """Adds ``jobs``: the scheduled jobs whose last run raised; True when any did."""
    failed = engine.job_failures
    if not failed:
        return False
    body["jobs"] = {name: {"failed_at": _iso(f.at),
                           "error": mask(mask_urls(f.error))[:300]}
                    for name, f in sorted(failed.items())}
    return True


_PRIVATE_KEYS = ("status", "database", "scheduler", "cluster", "last_sync", "notifications")


def private_view(body: dict[str, Any]) -> dict[str, Any]:
    """What an unauthenticated caller may see of a private installation.

    Counts and states only: no case ids, event UIDs, dates of held changes, channel or
    source names, error texts or file paths. A key not known here is left out, so a
    new detail stays private until someone decides otherwise.
    """
    out = {k: body[k] for k in _PRIVATE_KEYS if k in body}
    if "database_problems" in body:
        out["database_problems"] = [{"problem": p["problem"], "since": p["since"]}
                                    for p in body["database_problems"]]
    if "channels" in body:
        chans = body["channels"]
        out["channels"] = {"total": len(chans),
                           "unhealthy": sum(not c["healthy"] for c in chans),
                           "dead": sum(c["dead"] for c in chans)}
    if "sources" in body:
        srcs = body["sources"]
        out["sources"] = {"total": len(srcs), "unhealthy": sum(not s["healthy"] for s in srcs),
                          "held": sum(s["held_since"] is not None for s in srcs)}
    if "jobs" in body:
        out["jobs"] = {name: {"failed_at": j["failed_at"]} for name, j in body["jobs"].items()}
    if "dispatch_lanes" in body:
        # Lanes are named after channels: a count and the reason classes only.
        lanes = body["dispatch_lanes"]
        out["dispatch_lanes"] = {"failing": len(lanes),
                                 "reasons": sorted({lane["reason"] for lane in lanes})}
    return out
