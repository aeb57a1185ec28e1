"""Each parse fault fixed at its cause: config values, reminder caps and the feed writer.

Config files go through the same checks as calendar files (durations bounded, time
zone names checked before they reach the file system, nesting limited) and any
other exception from validation is a ConfigError naming the file and no secret.
The feed writer never emits a control byte, whatever is stored.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

import notifier.config.base as config_base
from notifier.calendars.tomlfile import parse_toml_calendar
from notifier.config import load_settings
from notifier.errors import CalendarError, ConfigError
from notifier.feeds.ical import FeedCase, FeedEvent, FeedOptions, render_feed
from notifier.specs import MAX_OFFSETS
from notifier.timeutil import parse_duration, zone

SECRET = "xoxb-very-secret-token"


def config_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert str(path) in message
    assert len(message) < 1000, "a huge value must not be repeated in full"
    assert SECRET not in message
    return message


@pytest.mark.parametrize(("text", "pattern"), [
    ('[calendars]\nsync_interval = "99999999999d"\n',
     r"key calendars\.sync_interval: duration '99999999999d' is too long \(at most 36500d\)"),
    ('[housekeeping]\nretention = "' + "9" * 5000 + 'd"\n',
     r"key housekeeping\.retention: duration '9999.*\(5003 characters\) is too long"),
    ('[[channels]]\nname = "c"\nurl = "slack://' + SECRET + '"\ntimezone = "' + "A" * 5000
     + '"\n', r"key channels\[0\] \(name 'c'\)\.timezone: unknown time zone 'AAAA.*characters"),
    ('[reminders]\noffsets = [' + ", ".join(['"1d"'] * 3000) + "]\n",
     r"key reminders\.offsets: 3000 reminder offsets; at most 20 per list"),
    ('[reminders]\nkinds = { trial = [' + ", ".join(['"1h"'] * 21) + "] }\n",
     r"key reminders\.kinds\.trial: 21 reminder offsets; at most 20 per list"),
    ("[server]\nhost = " + "[" * 1000 + "]" * 1000 + "\n",
     r"config\.toml:2: invalid TOML: key host: arrays or inline tables nested too deeply"),
    ("[server]\n" + ".".join(["a"] * 30) + " = 1\n",
     r"config\.toml: invalid TOML: key server\.a\.a.*: nested more than 20 levels deep"),
])
def test_bad_config_values_are_errors_naming_file_key_and_value(
        tmp_path: Path, text: str, pattern: str) -> None:
    message = config_error(tmp_path, text)
    assert re.search(pattern, message), message


def test_unexpected_exception_in_config_validation_is_a_config_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class ValidatorBug(Exception):
        pass

    def broken_zone(name: str) -> None:
        raise ValidatorBug(f"cannot handle {name} for slack://{SECRET}")

    monkeypatch.setattr(config_base, "zone", broken_zone)
    message = config_error(tmp_path, f'[[channels]]\nname = "c"\nurl = "slack://{SECRET}"\n'
                                     'timezone = "Europe/Paris"\n')
    assert "a value could not be read (ValidatorBug)" in message


def test_duration_and_zone_bounds() -> None:
    assert parse_duration("36500d") == timedelta(days=36500)
    assert parse_duration("0005m") == timedelta(minutes=5)
    for bad in ("36501d", "99999999999d", "9" * 5000 + "s", "5215w"):
        with pytest.raises(ValueError, match="too long"):
            parse_duration(bad)
    assert zone("America/New_York").key == "America/New_York"
    for bad in ("A" * 5000, "A" * 101, "", "America", "../etc/passwd", "a\x00b"):
        with pytest.raises(ValueError, match="unknown time zone"):
            zone(bad)


CASE = '[case]\nid = "c1"\ntitle = "C"\ntimezone = "UTC"\n'


@pytest.mark.parametrize(("text", "pattern"), [
    (CASE + "[reminders]\nkinds = { trial = [" + ", ".join(['"1h"'] * (MAX_OFFSETS + 1))
     + "] }\n", r"c\.toml:6: \[reminders\]: kinds\.trial = .*: 21 reminder offsets; at most 20"),
    (CASE.replace('title = "C"', 'title = "C\\u0007"'),
     r"c\.toml:3: \[case\]: title = 'C\\x07': control characters"),
    (CASE + '[[events]]\nid = "e"\ntitle = "E"\ndate = 2025-07-02\nlocation = "R\\u007f"\n',
     r"c\.toml:9: \[\[events\]\] #1: location = 'R\\x7f': control characters"),
])
def test_calendar_file_caps_and_control_characters(text: str, pattern: str) -> None:
    with pytest.raises(CalendarError) as info:
        parse_toml_calendar(text, "cal/c.toml")
    assert re.search(pattern, str(info.value)), str(info.value)


def test_tabs_and_line_breaks_are_still_text() -> None:
    spec = parse_toml_calendar(CASE + '[[events]]\nid = "e"\ntitle = "E"\ndate = 2025-07-02\n'
                               'notes = "a\\tb\\r\\nc\\\\bin"\n', "cal/c.toml")
    assert spec.events[0].notes == "a\tb\r\nc\\bin"


def test_feed_never_carries_a_control_byte() -> None:
    """Rows stored before input was checked (or a ?kind= value) must not put a NUL out."""
    t = datetime(2025, 6, 1, tzinfo=UTC)
    case = FeedCase(id="c1", title="Case\x00one", timezone="America/New_York",
                    court="Court\x1b[31m", updated_at=t)
    ev = FeedEvent(uid="c1/e@notifier", case_id="c1", event_id="e", kind="hearing",
                   title="Hearing\x00", status="scheduled", date=date(2025, 7, 2),
                   end_date=None, start_utc=datetime(2025, 7, 2, 13, 30, tzinfo=UTC),
                   end_utc=None, sort_utc=datetime(2025, 7, 2, 13, 30, tzinfo=UTC),
                   location="Room\x07 9", notes="line\x00one\nline\x0btwo", url=None,
                   judge="J\x08", sequence=0, removed_at=None, created_at=t, updated_at=t)
    opts = FeedOptions(base_url="http://localhost:8080")
    every = render_feed([case], [ev], opts, t)
    one = render_feed([case], [ev], opts, t, case_id="c1", kinds=frozenset({"hearing", "x\x00y"}))
    for body in (every, one):
        assert re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", body) is None
        assert b"LOCATION:Room 9\r\n" in body
    assert b"X-WR-CALNAME:Caseone (hearing\\, xy)\r\n" in one
