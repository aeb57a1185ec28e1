"""`notifier check` refuses what cannot work: channel URLs Apprise cannot use, a database
kind or driver that is not there, zero durations; and Apprise's own log lines stay out
of every command's output (run as a real process: its logging set up as users get it)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from notifier.cli import main

SLACK_SECRET = "B000SECRETXXXX"


def notifier(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NOTIFIER_CONFIG"}
    return subprocess.run([sys.executable, "-m", "notifier", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def write_config(folder: Path, body: str) -> None:
    (folder / "calendars").mkdir(exist_ok=True)
    (folder / "config.toml").write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_check_rejects_channel_urls_apprise_cannot_use(tmp_path: Path) -> None:
    write_config(tmp_path, f"""
        [calendars]
        paths = ["calendars"]

        [[channels]]
        name = "desk"
        url = "notaurl"

        [[channels]]
        name = "team"
        url = "slak://T000/{SLACK_SECRET}"

        [[channels]]
        name = "fine"
        url = "json://127.0.0.1:9/hook"

        [subscriptions]
        enabled = true
        email = "mailtos://:@"
        secret = "{"s" * 40}"
        """)
    r = notifier(tmp_path, "check")
    assert r.returncode == 1
    assert "OK" not in r.stdout
    assert r.stderr.splitlines() == [
        'config.toml:6: [[channels]] "desk" url: not an Apprise URL (no service:// at the '
        "start, e.g. slack:// or mailto://)",
        "config.toml:10: [[channels]] \"team\" url: not an Apprise URL (scheme 'slak' is no "
        "service Apprise knows; did you mean slack://?)",
        "config.toml:18: [subscriptions] email: not an Apprise URL (scheme 'mailtos': "
        "Apprise cannot read the rest; check it against the service's page on "
        "https://github.com/caronc/apprise/wiki)",
    ]
    assert SLACK_SECRET not in r.stderr + r.stdout


def test_apprise_log_lines_stay_out_of_channels_and_channels_test(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there: Apprise logs a connection error
    write_config(tmp_path, f"""
        [calendars]
        paths = ["calendars"]
        [database]
        url = "sqlite:///n.db"
        [[channels]]
        name = "team"
        url = "slak://T000/{SLACK_SECRET}"
        [[channels]]
        name = "down"
        url = "json://127.0.0.1:{port}/hook"
        """)
    r = notifier(tmp_path, "channels")
    assert r.returncode == 0, r.stderr
    assert "slak://*** (not an Apprise URL)" in r.stdout
    assert r.stderr == ""  # was "ERROR apprise: Unparseable URL ***" three times
    r = notifier(tmp_path, "channels", "test", "down")
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: test message to down not delivered: "), r.stderr
    assert "apprise:" not in r.stderr
    # -v still shows them, for whoever wants Apprise's own words.
    r = notifier(tmp_path, "-v", "channels")
    assert "apprise: Unparseable URL" in r.stderr


def cli(folder: Path, *args: str) -> tuple[int, str, str]:
    """``notifier ARGS --config folder/config.toml`` in this process (click's runner)."""
    cfg = folder / "config.toml"
    r = CliRunner().invoke(main, [*args, "--config", str(cfg)])
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr.replace(str(cfg), "config.toml")


def test_unsupported_database_kind_is_named_by_check_and_commands(tmp_path: Path) -> None:
    write_config(tmp_path, """
        [database]
        url = "mysql://u:hunter2@db.example/notifier"
        """)
    expected = ("[database] url mysql://u:***@db.example/notifier: mysql databases are not "
                "supported; use SQLite (sqlite:///data/notifier.db) or PostgreSQL "
                "(postgresql+psycopg://USER:PASSWORD@HOST/DATABASE)")
    code, out, err = cli(tmp_path, "check")
    assert (code, out, err) == (1, "", f"error: {expected}\n")
    code, out, err = cli(tmp_path, "events")
    assert (code, err) == (1, f"error: cannot open the database: {expected}\n")
    assert "hunter2" not in out + err


def test_missing_postgres_driver_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # psycopg is installed here; a None entry makes `import psycopg` fail as it does
    # where the extra was not installed.
    monkeypatch.setitem(sys.modules, "psycopg", None)
    write_config(tmp_path, """
        [database]
        url = "postgresql+psycopg://u:hunter2@127.0.0.1/notifier"
        """)
    expected = ("[database] url postgresql+psycopg://u:***@127.0.0.1/notifier: the PostgreSQL "
                "driver psycopg is not installed: pip install 'notifier[postgres]'")
    code, out, err = cli(tmp_path, "check")
    assert (code, out, err) == (1, "", f"error: {expected}\n")
    code, out, err = cli(tmp_path, "reminders", "--pending")
    assert (code, err) == (1, f"error: cannot open the database: {expected}\n")


def test_the_postgres_extra_is_what_the_message_names() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert any(d.startswith("psycopg")
               for d in pyproject["project"]["optional-dependencies"]["postgres"])


@pytest.mark.parametrize(("section", "key"), [
    ("calendars", "sync_interval"),
    ("housekeeping", "interval"),
    ("housekeeping", "retention"),
    ("delivery", "backoff_max"),
    ("subscriptions", "confirm_ttl"),
    ("subscriptions", "stale_after"),
])
def test_zero_durations_are_refused_naming_key_and_value(tmp_path: Path, section: str,
                                                        key: str) -> None:
    write_config(tmp_path, f"""
        [{section}]
        {key} = "0s"
        """)
    code, out, err = cli(tmp_path, "check")
    assert (code, out) == (1, "")
    assert err == (f"error: config.toml:2: key {section}.{key}: must be at least 1s "
                   "(value: '0s')\n")
