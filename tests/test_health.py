"""/healthz decisions: 503 for what a restart can fix, "degraded" for what it cannot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from notifier.config import Settings
from notifier.errors import CalendarError
from notifier.server.health import health_report
from notifier.store import Store
from notifier.tracking.sync import SyncReport

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)


@dataclass
class FakeEngine:
    last_tick: datetime | None = NOW - timedelta(seconds=5)
    running: bool = True
    dispatcher_alive: bool = True
    last_sync: SyncReport | None = field(default_factory=SyncReport)
    last_sync_at: datetime | None = NOW - timedelta(seconds=30)
    job_failures: dict[str, Any] = field(default_factory=dict)


class _NoFailingLanes:
    """The fake engine's dispatcher: no lane failing (tests/test_lane_health.py has some)."""

    def lane_failures(self) -> list[object]:
        return []


FakeEngine.dispatcher = _NoFailingLanes()  # type: ignore[attr-defined]


def test_healthy(store: Store, settings: Settings) -> None:
    rep = health_report(store, FakeEngine(), settings, now=NOW)  # type: ignore[arg-type]
    assert rep.status_code == 200 and rep.body["status"] == "ok"
    assert rep.body["scheduler"] == {"running": True, "last_tick": "2026-01-05T11:59:55+00:00",
                                     "stuck": False, "dispatcher": True}
    assert rep.body["last_sync"]["ok"] is True


def test_stuck_scheduler_is_503(store: Store, settings: Settings) -> None:
    engine = FakeEngine(last_tick=NOW - timedelta(minutes=10))
    rep = health_report(store, engine, settings, now=NOW)  # type: ignore[arg-type]
    assert rep.status_code == 503 and rep.body["scheduler"]["stuck"] is True


def test_dead_dispatcher_or_stopped_scheduler_is_503(store: Store, settings: Settings) -> None:
    for engine in (FakeEngine(dispatcher_alive=False), FakeEngine(running=False)):
        rep = health_report(store, engine, settings, now=NOW)  # type: ignore[arg-type]
        assert rep.status_code == 503 and rep.body["status"] == "error"


def test_unreachable_database_is_503(tmp_path: Path, settings: Settings) -> None:
    store = Store(f"sqlite:///{tmp_path / 'gone.db'}")
    store.engine.dispose()
    (tmp_path / "gone.db").unlink()
    (tmp_path / "gone.db").mkdir()  # a folder where the database file was
    rep = health_report(store, FakeEngine(), settings, now=NOW)  # type: ignore[arg-type]
    # The query fails, and the path is no longer a file at all.
    assert rep.status_code == 503 and rep.body["database"] == "gone"


def test_sync_errors_are_degraded_not_503(store: Store, settings: Settings) -> None:
    report = SyncReport(errors=[CalendarError("calendars/x.toml", ["bad"])])
    rep = health_report(store, FakeEngine(last_sync=report), settings,  # type: ignore[arg-type]
                        now=NOW)
    assert rep.status_code == 200 and rep.body["status"] == "degraded"
    assert rep.body["last_sync"]["errors"] == 1
