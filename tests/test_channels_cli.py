"""`notifier channels`, `channels test`, `reminders --history`; secrets never shown."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from channelkit import HttpSink
from click.testing import CliRunner

from notifier.cli import main
from notifier.config import load_settings
from notifier.server.health import health_report
from notifier.store import Store

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
    assert "failing" in out[2] and "permanent" in text
    assert '"healthy": false' in health and "hook" in health
    assert "dead" in out[6] and "401" in out[6]


def test_channels_test_unknown_name_and_no_channels(tmp_path, db_url) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")
    r = CliRunner().invoke(main, ["channels", "test", "nope", "--config", str(cfg)])
    assert r.exit_code == 1 and "no channel 'nope'" in r.output
    r = CliRunner().invoke(main, ["channels", "--config", str(cfg)])
    assert r.exit_code == 0 and "log" in r.output
