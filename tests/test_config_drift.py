"""What SIGHUP says about an edited config file (notifier.config.drift)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from notifier.config import load_settings
from notifier.config.drift import changed_sections, reload_note

BASE = textwrap.dedent("""
    [calendars]
    paths = ["calendars"]
    [reminders]
    offsets = ["1d"]
    [[channels]]
    name = "desk"
    url = "mailtos://user:hunter2@mail.example.org?to=desk@example.org"
    [[channels]]
    name = "ops"
    url = "json://127.0.0.1:9/hook"
    """)


def write(tmp_path: Path, text: str) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(text)
    return cfg


def test_unchanged_file_says_nothing(tmp_path: Path) -> None:
    running = load_settings(write(tmp_path, BASE), env={})
    assert reload_note(running, env={}) is None


def test_built_in_defaults_have_no_file_to_compare(tmp_path: Path) -> None:
    assert reload_note(load_settings(None, env={}), env={}) is None


def test_names_changed_sections_and_channels_without_their_urls(tmp_path: Path) -> None:
    cfg = write(tmp_path, BASE)
    running = load_settings(cfg, env={})
    cfg.write_text(BASE.replace('offsets = ["1d"]', 'offsets = ["7d", "1d"]')
                   .replace("hunter2", "hunter3")
                   .replace('name = "ops"\nurl = "json://127.0.0.1:9/hook"',
                            'name = "slack"\nurl = "json://127.0.0.1:9/other"'))
    fresh = load_settings(cfg, env={})
    assert changed_sections(running, fresh) == [
        "[reminders]", "[[channels]] (added slack; removed ops; changed desk)"]
    note = reload_note(running, env={})
    assert note is not None
    assert note.startswith(f"{cfg} changed since start: [reminders], [[channels]]")
    assert "restart notifier" in note
    assert "hunter" not in note and "127.0.0.1" not in note


def test_reordered_channels_are_reported_as_such(tmp_path: Path) -> None:
    cfg = write(tmp_path, BASE)
    running = load_settings(cfg, env={})
    head, desk, ops = BASE.split("[[channels]]")
    cfg.write_text(head + "[[channels]]" + ops + "[[channels]]" + desk)
    assert changed_sections(running, load_settings(cfg, env={})) == [
        "[[channels]] (reordered)"]


def test_a_broken_edit_is_reported_with_its_key_and_the_running_settings_kept(
        tmp_path: Path) -> None:
    cfg = write(tmp_path, BASE)
    running = load_settings(cfg, env={})
    cfg.write_text(BASE.replace('offsets = ["1d"]', 'offsets = ["soon"]'))
    note = reload_note(running, env={})
    assert note is not None
    assert note.startswith(f"{cfg} now has an error; the running settings are kept")
    assert "reminders" in note and "soon" in note
    assert running.reminders.offsets  # untouched
