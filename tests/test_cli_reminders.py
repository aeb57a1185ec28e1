"""`notifier reminders` and `notifier dispatch --once` through click's CliRunner."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from notifier.cli import main
from notifier.notify import outbox
from notifier.store import Store


def _config(tmp_path: Path, db_url: str) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\nurl = "{db_url}"\n[calendars]\npaths = ["calendars"]\n',
                   encoding="utf-8")
    return cfg


def test_reminders_lists_and_filters(tmp_path: Path, db_url: str, store: Store) -> None:
    now = datetime.now(UTC)
    with store.write() as s:
        outbox.insert_rows(s, [
            outbox.new_row("test:due", "test", "log", now - timedelta(seconds=1), now,
                           {"title": "due now", "text": "x"}),
            outbox.new_row("test:later", "test", "log", now + timedelta(days=1), now,
                           {"title": "later", "text": "y"}),
            outbox.new_row("test:bad", "test", "nowhere", now - timedelta(seconds=1), now,
                           {"title": "bad channel", "text": "z"}),
        ])
    cfg = str(_config(tmp_path, db_url))
    r = CliRunner().invoke(main, ["dispatch", "--config", cfg, "--once"])
    assert r.exit_code == 0, r.output
    assert "sent 1" in r.output and "dead 1" in r.output
    r = CliRunner().invoke(main, ["reminders", "--config", cfg])
    assert r.exit_code == 0
    assert "due now" in r.output and "later" in r.output and "STATUS" in r.output
    r = CliRunner().invoke(main, ["reminders", "--config", cfg, "--pending", "--json"])
    assert [d["dedupe_key"] for d in json.loads(r.output)] == ["test:later"]
    r = CliRunner().invoke(main, ["reminders", "--config", cfg, "--failed", "--json"])
    [dead] = json.loads(r.output)
    assert dead["status"] == "dead" and "nowhere" in dead["last_error"]


def test_sync_command_writes_alerts_and_reminders(tmp_path: Path, db_url: str,
                                                  store: Store) -> None:
    cal = tmp_path / "calendars"
    cal.mkdir()
    start = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT09:30:00")
    (cal / "c.toml").write_text(f"""
[case]
id = "c"
title = "People v. CLI"
timezone = "UTC"

[[events]]
id = "h"
kind = "hearing"
title = "Hearing"
start = {start}
status = "scheduled"
""", encoding="utf-8")
    cfg = str(_config(tmp_path, db_url))
    r = CliRunner().invoke(main, ["sync", "--config", cfg])
    assert r.exit_code == 0 and "baseline import into an empty database" in r.output
    r = CliRunner().invoke(main, ["reminders", "--config", cfg, "--json"])
    types = sorted(d["type"] for d in json.loads(r.output))
    assert types == ["reminder", "reminder"]  # the 7d one is already past; no "added" alert
    (cal / "c.toml").write_text((cal / "c.toml").read_text().replace("09:30", "14:00"))
    r = CliRunner().invoke(main, ["sync", "--config", cfg])
    assert r.exit_code == 0 and "baseline" not in r.output
    r = CliRunner().invoke(main, ["reminders", "--config", cfg, "--json"])
    assert sorted(d["type"] for d in json.loads(r.output) if d["status"] != "withdrawn") == \
        ["change", "reminder", "reminder"]


def test_reminders_empty(tmp_path: Path, db_url: str, store: Store) -> None:
    r = CliRunner().invoke(main, ["reminders", "--config", str(_config(tmp_path, db_url))])
    assert r.exit_code == 0 and "no notifications" in r.output
