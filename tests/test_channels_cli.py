"""`notifier channels`, `channels test`, `reminders --history`; secrets never shown."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

from channelkit import HttpSink
from click.testing import CliRunner
from sqlmodel import select

from notifier.cli import main
from notifier.config import load_settings
from notifier.notify.dispatch import Dispatcher
from notifier.server.health import health_report
from notifier.store import Store
from notifier.store.models import Notification
from notifier.timeutil import utcnow

SECRET = "s3cr3tT0kenValue42"


def _config(tmp_path: Path, db_url: str, url: str) -> str:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[database]
url = "{db_url}"
[calendars]
paths = ["calendars"]
[[channels]]
name = "hook"
url = "${{HOOK_URL}}"
notify = ["reminder", "change", "operator"]
cases = ["people-*"]
""", encoding="utf-8")
    return str(cfg)


def test_channels_test_ok_then_listed_healthy(tmp_path, db_url, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with HttpSink() as sink:
        monkeypatch.setenv("HOOK_URL", sink.json_url("hook", f"token={SECRET}"))
        cfg = _config(tmp_path, db_url, "")
        r = CliRunner().invoke(main, ["channels", "test", "hook", "--config", cfg])
        assert r.exit_code == 0, r.output
        assert "sent: test message delivered to hook" in r.output
        body = sink.requests[0][1]
        assert isinstance(body, dict) and "test from notifier" in body["message"]
        r = CliRunner().invoke(main, ["channels", "--config", cfg])
    assert r.exit_code == 0, r.output
    assert "hook" in r.output and "ok" in r.output and "cases=people-*" in r.output
    assert SECRET not in r.output
    r = CliRunner().invoke(main, ["channels", "--json", "--config", cfg])
    (row,) = json.loads(r.output)
    assert row["healthy"] and row["last_success"] and SECRET not in r.output


def test_failing_channel_masks_secret_everywhere(tmp_path, db_url, monkeypatch,  # type: ignore[no-untyped-def]
                                                 caplog) -> None:
    with HttpSink([401]) as sink, caplog.at_level(logging.DEBUG):
        monkeypatch.setenv("HOOK_URL", sink.json_url(f"hooks/{SECRET}", f"token={SECRET}"))
        cfg = _config(tmp_path, db_url, "")
        r = CliRunner().invoke(main, ["channels", "test", "hook",
                                       "--config", cfg])
        assert r.exit_code == 1
        assert "not delivered" in r.stderr and "401" in r.stderr
        out = [r.stdout, r.stderr]
        for args in (["channels"], ["channels", "--json"], ["reminders"],
                     ["reminders", "--json"], ["reminders", "--history", "1"],
                     ["reminders", "--history", "1", "--json"]):
            res = CliRunner().invoke(main, [*args, "--config", cfg])
            assert res.exit_code == 0, res.output
            out.append(res.output)
        settings = load_settings(cfg)
        store = Store(settings.database_url())
        health = json.dumps(health_report(store, None, settings).body)
        store.close()
    text = "\n".join([*out, health, caplog.text])
    assert SECRET not in text
    assert "401" in r.stderr and "401" in text
    assert "failed" in out[6] and "401" in out[6]  # reminders --history 1


def test_channels_test_unknown_name_and_no_channels(tmp_path, db_url) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")
    r = CliRunner().invoke(main, ["channels", "test", "nope", "--config", str(cfg)])
    assert r.exit_code == 1 and "no channel 'nope'" in r.output
    r = CliRunner().invoke(main, ["channels", "--config", str(cfg)])
    assert r.exit_code == 0 and "log" in r.output


def test_a_failed_test_message_is_final_and_not_counted_against_the_channel(
        tmp_path, db_url, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Tried once: reported at once, never retried later (not by a daemon whose config
    lacks the channel either), no dead row in /healthz or `notifier channels`."""
    with HttpSink([500, 500, 500]) as sink:
        monkeypatch.setenv("HOOK_URL", sink.json_url("hook"))
        cfg = _config(tmp_path, db_url, "")
        r = CliRunner().invoke(main, ["channels", "test", "hook", "--config", cfg])
        assert r.exit_code == 1 and "not delivered" in r.stderr and "500" in r.stderr
        settings = load_settings(cfg)
        store = Store(settings.database_url())
        try:
            for later in (settings, settings.model_copy(update={"channels": []})):
                d = Dispatcher(store, later, clock=lambda: utcnow() + timedelta(days=2))
                try:
                    assert d.run_once().sent == 0
                finally:
                    d.close()
            with store.read() as s:
                (n,) = s.exec(select(Notification)).all()
            health = health_report(store, None, settings).body
        finally:
            store.close()
        assert len(sink.requests) == 1  # tried once
    assert (n.status, n.attempts) == ("withdrawn", 1) and "500" in (n.last_error or "")
    assert health["notifications"]["dead"] == 0 and health["status"] == "ok", health
    assert health["channels"][0]["healthy"] and health["channels"][0]["dead"] == 0
    r = CliRunner().invoke(main, ["reminders", "--history", str(n.id), "--config", cfg])
    assert r.exit_code == 0 and "failed" in r.output and "retry" not in r.output
