"""The command line, through click's runner, on real files and a real SQLite database."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from notifier.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder like a fresh clone: the shipped calendars, no config file."""
    shutil.copytree(REPO / "calendars", tmp_path / "calendars")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def test_check_passes_on_the_shipped_calendars(project: Path) -> None:
    code, out, _ = run("check")
    assert code == 0
    assert "1 calendar file(s), 1 case(s), 3 event(s)" in out


def test_check_reports_every_problem_and_exits_1(project: Path) -> None:
    (project / "calendars" / "bad.toml").write_text(textwrap.dedent("""
        [case]
        id = "bad"
        title = "Bad"
        timezone = "Nowhere/Land"
        """))
    (project / "calendars" / "worse.ics").write_text("not a calendar")
    code, _, err = run("check")
    assert code == 1
    assert "calendars/bad.toml:5: [case]: timezone = 'Nowhere/Land': unknown time zone" in err
    assert "calendars/worse.ics: not a valid iCalendar file" in err
    assert "2 problem(s) in 2 file(s); 1 file(s) OK" in err


def test_events_of_an_unknown_case_is_an_error(project: Path) -> None:
    code, out, err = run("events", "--case", "nope")
    assert (code, out) == (1, "")
    assert err == "error: no case 'nope': no cases yet (run `notifier sync` first?)\n"
    assert run("events")[1] == "no events (run `notifier sync` first?)\n"
    assert run("sync")[0] == 0
    code, out, err = run("events", "--case", "people-v-weinstin")
    assert (code, out) == (1, "")
    assert err == ("error: no case 'people-v-weinstin' (cases: people-v-weinstein; did you "
                   "mean 'people-v-weinstein'?)\n")
    code, out, err = run("events", "--case", "nope", "--json")
    assert (code, out) == (1, "")
    # Synced, but nothing left to show: no "run sync first?".
    (project / "calendars" / "old.toml").write_text(
        '[case]\nid = "old"\ntitle = "Old"\n[[events]]\nid = "h"\ntitle = "H"\n'
        'date = 2020-01-02\n')
    assert run("sync")[0] == 0
    code, out, _ = run("events", "--case", "old", "--upcoming")
    assert (code, out) == (0, "no events to come of case old\n")


def test_sync_events_history(project: Path) -> None:
    code, out, _ = run("sync")
    assert code == 0
    assert "people-v-weinstein/hearing-2025-07-02  Hearing added: Wed 2 Jul 2025" in out
    assert "3 change(s) from 1 file(s)" in out
    assert (project / "data" / "notifier.db").exists()
    assert run("sync")[1].strip() == "0 change(s) from 1 file(s)"

    code, out, _ = run("events", "--case", "people-v-weinstein")
    assert code == 0
    assert out.splitlines()[0].split() == ["CASE", "EVENT", "KIND", "WHEN", "STATUS", "TITLE",
                                           "SOURCE"]
    assert "date to be set" in out

    code, out, _ = run("events", "--json", "--upcoming")
    data = json.loads(out)
    assert [e["id"] for e in data] == ["third-trial"]  # 2025 dates are past; tbd stays open
    assert data[0]["status"] == "tbd" and data[0]["source"] == "calendars/people-v-weinstein.toml"

    cal = project / "calendars" / "people-v-weinstein.toml"
    cal.write_text(cal.read_text().replace("date = 2025-07-02", "date = 2025-07-09"))
    code, out, _ = run("sync")
    assert "Hearing moved later: Wed 2 Jul 2025 -> Wed 9 Jul 2025" in out

    code, out, _ = run("history", "hearing-2025-07-02")
    assert code == 0
    assert "added" in out and "rescheduled_later" in out
    code, out, _ = run("history", "people-v-weinstein/hearing-2025-07-02", "--json")
    rows = json.loads(out)
    assert rows[-1]["before"]["date"] == "2025-07-02" and rows[-1]["after"]["date"] == \
        "2025-07-09"


def test_sync_with_a_bad_file_exits_1_but_applies_the_rest(project: Path) -> None:
    (project / "calendars" / "bad.toml").write_text("[case\n")
    code, out, err = run("sync")
    assert code == 1
    assert "3 change(s)" in out
    assert re.search(r"calendars/bad\.toml:\d+: invalid TOML", err)


def test_user_and_usage_errors(project: Path) -> None:
    assert run("history", "nope")[0] == 1
    code, _, err = run("--config", "missing.toml", "check")
    assert code == 1 and "cannot read config file missing.toml" in err
    code, _, err = run("check", "--config", "missing.toml")
    assert code == 1
    (project / "config.toml").write_text("[server]\nport = 'x'\n")
    code, _, err = run("check")
    assert code == 1 and "config.toml:2: key server.port" in err
    assert run("no-such-command")[0] == 2
    assert run("events", "--bogus")[0] == 2
