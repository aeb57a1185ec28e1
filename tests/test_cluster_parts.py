"""The cluster's parts in one process: leader election and take-over on PostgreSQL,
channels protected for other daemons, config fingerprints and mismatch warnings, and
possible repeats recorded in the delivery history (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from clusterkit import ADMIN_URL, SKIP_REASON, pg_database
from outboxhelpers import Recorder, utc
from sqlmodel import select
from waiting import until

from notifier.config import Settings, parse_settings
from notifier.notify import outbox
from notifier.notify.dispatch import Dispatcher
from notifier.notify.lane_health import outcome_deadline
from notifier.server.cluster import Cluster, DaemonInfo, config_fingerprint, mismatches
from notifier.store import Store
from notifier.store.models import Delivery, Notification

needs_pg = pytest.mark.skipif(not ADMIN_URL, reason=SKIP_REASON)


def _settings(tmp_path: Path, url: str, channels: list[str], **extra: object) -> Settings:
    data: dict[str, object] = {
        "database": {"url": url}, "cluster": {"failover": "1s", "channel_grace": "1h"},
        "channels": [{"name": c, "url": f"json://127.0.0.1:9/{c}?secret=s3cret"}
                     for c in channels], **extra}
    return parse_settings(data, origin="test", base_dir=tmp_path, env={})


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_database() as url:
        yield url


def test_fingerprint_ignores_the_listen_port_not_the_channels(tmp_path: Path) -> None:
    a = _settings(tmp_path, "sqlite:///x.db", ["a"])
    b = _settings(tmp_path, "sqlite:///x.db", ["a"], server={"port": 9999})
    c = _settings(tmp_path, "sqlite:///x.db", ["a", "b"])
    assert config_fingerprint(a) == config_fingerprint(b) != config_fingerprint(c)


def _info(pid: int, fp: str, channels: tuple[str, ...], leader: bool = False,
          role: str = "all") -> DaemonInfo:
    now = datetime.now(UTC)
    return DaemonInfo(f"id{pid}", "host", pid, role, True, leader, "1.0", fp, channels, now, now)


def test_mismatches_name_the_daemon_and_the_missing_channel() -> None:
    same = [_info(1, "f1", ("a", "b"), leader=True), _info(2, "f1", ("a", "b"))]
    assert mismatches(same) == []
    odd = [_info(1, "f1", ("a", "b"), leader=True), _info(2, "f2", ("a",)),
           _info(3, "f1", (), role="web")]
    found = mismatches(odd)
    assert any("fingerprints differ" in m for m in found)
    assert "host:2 does not know channel(s) b" in found
    assert not any("host:3" in m and "channel" in m for m in found)  # web sends nothing
    assert any("no leader" in m for m in mismatches([_info(1, "f1", ("a",))]))


@needs_pg
def test_one_leader_at_a_time_and_take_over_when_it_goes(tmp_path: Path, pg_url: str) -> None:
    first = Cluster(Store(pg_url), _settings(tmp_path, pg_url, ["a", "b"]))
    second = Cluster(Store(pg_url), _settings(tmp_path, pg_url, ["a", "c"]))
    web = Cluster(Store(pg_url), _settings(tmp_path, pg_url, ["a"]), role="web")
    elected: list[str] = []
    second.on_elected = lambda: elected.append("second")
    try:
        first.start()
        second.start()
        web.start()
        assert first.leads() and not second.leads() and not web.leads()
        # A leader whose session is cut off stops leading at its next check.
        with first.store.engine.connect() as c:
            c.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_locks "
                              "WHERE locktype = 'advisory' AND objid = :k"),
                      {"k": 0x6E6F6C64})
            c.commit()
        assert until(lambda: not first.leads(), 5)
        assert until(lambda: second.leads() or first.leads(), 5)
        leader, other = (second, first) if second.leads() else (first, second)
        assert not other.leads()
        leader.stop()
        assert until(other.leads, 5)
        assert until(lambda: elected, 5)  # the second was told it leads
        # Each knows the channels of daemons seen within the grace, stopped ones included.
        second._started -= timedelta(hours=2)  # past its own channel_grace
        assert second.protected() == {"a", "b", "c"}
    finally:
        for c in (first, second, web):
            c.stop()
            c.store.close()


def _claimed(store: Store, now: datetime, lease: timedelta) -> None:
    with store.write() as s:
        outbox.insert_rows(s, [outbox.new_row("op:1", "operator", "a", now, now,
                                              {"title": "t", "text": "x"})])
    with store.write() as s:
        assert len(outbox.claim(s, now, lease, 10)) == 1  # a daemon that then dies


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_send_after_an_unrecorded_claim_is_marked_a_possible_repeat(
        tmp_path: Path, engine: str) -> None:
    if engine == "postgresql" and not ADMIN_URL:
        pytest.skip(SKIP_REASON)
    with (pg_database() if engine == "postgresql" else _sqlite(tmp_path)) as url:
        settings = _settings(tmp_path, url, ["a"], delivery={"lease": "1m"})
        store = Store(url)
        try:
            t0 = utc(2030, 1, 1, 12)
            _claimed(store, t0, settings.delivery.lease)
            rec = Recorder()
            later = t0 + timedelta(minutes=2)  # the dead daemon's lease has run out
            stats = Dispatcher(store, settings, sender=rec, clock=lambda: later).run_once()
            assert stats.sent == 1 and len(rec.sent) == 1
            with store.read() as s:
                rows = s.exec(select(Delivery)).all()
            assert [(d.outcome, d.repeat) for d in rows] == [("sent", True)]
            # A row sent after a clean claim is not marked.
            with store.write() as s:
                outbox.insert_rows(s, [outbox.new_row("op:2", "operator", "a", later, later,
                                                      {"title": "t", "text": "y"})])
            Dispatcher(store, settings, sender=rec, clock=lambda: later).run_once()
            with store.read() as s:
                assert sorted(d.repeat for d in s.exec(select(Delivery)).all()) == [False, True]
        finally:
            store.close()


class _sqlite:
    def __init__(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path / 'n.db'}"

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: object) -> None:
        pass


def test_reconcile_keeps_the_rows_of_channels_other_daemons_know(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    settings = _settings(tmp_path, url, ["a"])
    store = Store(url)
    try:
        now = utc(2030, 1, 1)
        rows = [outbox.new_row(f"r:{ch}", "reminder", ch, now + timedelta(days=1), now, {},
                               event_uid="gone@x") for ch in ("a", "other")]
        with store.write() as s:
            outbox.insert_rows(s, rows)
            outbox.reconcile(s, [], settings, now, scope=["gone@x"], withdraw_overdue=True,
                             keep={"other"})
        with store.read() as s:
            got = {r.channel: r.status for r in s.exec(select(Notification)).all()}
        assert got == {"a": "withdrawn", "other": "pending"}
    finally:
        store.close()


def test_a_stopping_dispatcher_tries_to_record_until_the_lease_is_nearly_spent() -> None:
    held = utc(2030, 1, 1, 12)
    assert outcome_deadline(held, timedelta(minutes=2)) == held - timedelta(seconds=5)
    assert outcome_deadline(held, timedelta(seconds=10)) == held - timedelta(seconds=1)


def test_the_compose_cluster_file_runs_migrate_once_then_three_replicas() -> None:
    import yaml

    from notifier.config import load_settings

    repo = Path(__file__).resolve().parent.parent
    compose = yaml.safe_load((repo / "compose.cluster.yaml").read_text())
    services = compose["services"]
    replicas = [s for name, s in services.items() if name.startswith("notifier-")]
    assert len(replicas) == 3
    assert services["migrate"]["command"] == ["migrate"]
    for r in replicas:
        assert r["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "/livez" in " ".join(r["healthcheck"]["test"])
        mount = next(v for v in r["volumes"] if "cluster.toml" in v)
        assert mount.split(":")[1] == r["environment"]["NOTIFIER_CONFIG"]
    settings = load_settings(repo / "container" / "cluster.toml",
                             env={"DATABASE_URL": replicas[0]["environment"]["DATABASE_URL"]})
    assert settings.database.url.startswith("postgresql+psycopg://")
