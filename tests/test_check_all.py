"""`notifier check` reports every problem of every file in one pass: a missing key, a
misspelt key, a bad value, a DST-gap time, a duplicate id and a control character in
one file, a bad zone in another, each with file, line, key and value."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from notifier.cli import main

REPO = Path(__file__).resolve().parent.parent

MANY = textwrap.dedent("""\
    [case]
    id = "many"
    title = "Many problems"
    timezone = "America/New_York"

    [[events]]
    id = "no-title"
    kind = "hearing"
    date = 2025-07-02

    [[events]]
    id = "misspelt"
    kind = "hearing"
    title = "Hearing"
    locaton = "Part 99"
    date = 2025-07-03

    [[events]]
    id = "gap"
    kind = "hearing"
    title = "Hearing in the spring-forward gap"
    start = 2025-03-09T02:30:00

    [[events]]
    id = "dup"
    kind = "hearing"
    title = "First"
    date = 2025-07-04

    [[events]]
    id = "dup"
    kind = "hearing"
    title = "Second"
    date = 2025-07-05

    [[events]]
    id = "bad-status"
    kind = "hearing"
    title = "Hearing"
    status = "sometime"
    date = 2025-07-06
    """)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO / "calendars", tmp_path / "calendars")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
    return tmp_path


def check() -> tuple[int, str]:
    r = CliRunner().invoke(main, ["check"])
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stderr


def test_every_problem_of_every_file_in_one_pass(project: Path) -> None:
    (project / "calendars" / "many.toml").write_text(MANY)
    (project / "calendars" / "zone.toml").write_text(
        '[case]\nid = "zone"\ntitle = "Zone"\ntimezone = "Nowhere/Land"\n')
    code, err = check()
    assert code == 1
    expected = [
        "calendars/many.toml:6: [[events]] #1 (id 'no-title'): missing key 'title'",
        "calendars/many.toml:15: [[events]] #2 (id 'misspelt'): unknown key 'locaton'",
        "calendars/many.toml:40: [[events]] #6 (id 'bad-status'): status = 'sometime'",
        "calendars/many.toml:22: [[events]] #3 (id 'gap'): start = 2025-03-09T02:30:00:",
        "calendars/many.toml:31: [[events]] #5: duplicate event id 'dup'",
        "calendars/zone.toml:4: [case]: timezone = 'Nowhere/Land': unknown time zone",
    ]
    for line in expected:
        assert line in err, err
    assert "6 problem(s) in 2 file(s)" in err


def test_control_character_does_not_hide_the_other_problems(project: Path) -> None:
    text = MANY.replace('title = "First"', 'title = "First\\u0000"')
    (project / "calendars" / "many.toml").write_text(text)
    code, err = check()
    assert code == 1
    assert "control characters" in err and "title = " in err
    assert "missing key 'title'" in err and "start = 2025-03-09T02:30:00" in err
    assert "duplicate event id 'dup'" in err
