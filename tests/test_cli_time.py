"""One time-zone rule in the CLI: court time with its abbreviation (``--utc`` for UTC),
whole cells when the output is not a terminal, `sync`'s errors before its summary, and a
case feed token made before the first sync."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from notifier.cli import main

REPO = Path(__file__).resolve().parent.parent
LONG = "A very long note " * 12


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO / "calendars", tmp_path / "calendars")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
    return tmp_path


def run(*args: str) -> Result:
    r = CliRunner().invoke(main, list(args))
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r


def test_history_in_court_time_or_utc_and_uncut_when_piped(project: Path) -> None:
    cal = project / "calendars" / "people-v-weinstein.toml"
    text = cal.read_text().replace('title = "Hearing on the retrial of the rape charge"',
                                   f'title = "Hearing on the retrial of the rape charge {LONG}"')
    cal.write_text(text)
    assert run("sync").exit_code == 0
    out = run("history", "people-v-weinstein/hearing-2025-07-02").stdout
    header, row = out.splitlines()[1:3]
    assert header.split()[:3] == ["AT", "CHANGE", "DETAILS"]
    assert row.split()[2] in {"EST", "EDT"}  # New York time with its abbreviation
    assert "…" not in out  # CliRunner is not a terminal: nothing is cut
    utc = run("history", "people-v-weinstein/hearing-2025-07-02", "--utc").stdout
    assert utc.splitlines()[2].split()[2] == "UTC"
    events = run("events").stdout
    assert LONG.strip() in events and "…" not in events
    cal.write_text(text.replace("date = 2025-07-02", "start = 2025-07-02T09:30:00"))
    assert run("sync").exit_code == 0
    assert "Wed 2 Jul 2025 09:30 EDT" in run("events").stdout
    assert "Wed 2 Jul 2025 13:30 UTC" in run("events", "--utc").stdout


def test_sync_prints_errors_before_the_summary(project: Path) -> None:
    (project / "calendars" / "bad.toml").write_text("[case\n")
    r = run("sync")
    assert r.exit_code == 1
    lines = r.output.splitlines()
    error = next(i for i, line in enumerate(lines) if "calendars/bad.toml:1: invalid TOML" in line)
    summary = next(i for i, line in enumerate(lines) if "change(s) from" in line)
    assert error < summary


def test_case_token_before_the_first_sync(project: Path) -> None:
    r = run("feed", "token", "create", "--case", "people-v-weinstein")
    assert r.exit_code == 0, r.output
    assert "token 1 created for case people-v-weinstein" in r.stdout
    r = run("feed", "token", "create", "--case", "no-such-case")
    assert r.exit_code == 1 and "no case 'no-such-case'" in r.stderr


def test_durations_in_words_for_people() -> None:
    from datetime import timedelta

    from notifier.timeutil import spell_duration

    assert spell_duration(timedelta(days=1)) == "1 day"
    assert spell_duration(timedelta(days=7)) == "1 week"
    assert spell_duration(timedelta(days=15)) == "15 days"
    assert spell_duration(timedelta(hours=48)) == "2 days"
    assert spell_duration(timedelta(hours=6)) == "6 hours"
    assert spell_duration(timedelta(seconds=90)) == "90 seconds"
    assert spell_duration(timedelta(minutes=1)) == "1 minute"
