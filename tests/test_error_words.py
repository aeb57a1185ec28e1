"""Error messages in the user's words: tables and keys named as the file writes them,
values as TOML writes them, patterns said in words, the closest known key suggested,
config errors with their line, non-UTF-8 bytes placed by line and column."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from notifier.calendars.folders import parse_calendar
from notifier.calendars.tomlfile import parse_toml_calendar
from notifier.config import load_settings
from notifier.errors import CalendarError, ConfigError

CASE = '[case]\nid = "c"\ntitle = "C"\ntimezone = "America/New_York"\n'


def problems(text: str, source: str = "cals/x.toml") -> list[str]:
    with pytest.raises(CalendarError) as e:
        parse_toml_calendar(textwrap.dedent(text).lstrip(), source)
    return e.value.problems


def test_misspelt_table_is_named_as_written_with_a_suggestion() -> None:
    text = CASE + '\n[[event]]\nid = "a"\ntitle = "A"\ndate = 2025-07-02\n'
    assert problems(text) == ["cals/x.toml:6: unknown table [[event]] (did you mean [[events]]?)"]
    text = CASE + "\n[reminder]\noffsets = [\"1d\"]\n"
    assert problems(text) == ["cals/x.toml:6: unknown table [reminder] "
                              "(did you mean [reminders]?)"]
    assert problems('zzz = 1\n' + CASE) == ["cals/x.toml:1: unknown key 'zzz'"]


def test_empty_file_is_missing_its_case_table() -> None:
    assert problems("", "cals/empty.toml") == ["cals/empty.toml: missing the [case] table"]


def test_values_shown_as_toml_writes_them() -> None:
    text = CASE + textwrap.dedent("""
        [[events]]
        id = "a"
        title = "A"
        start = 2025-07-02

        [[events]]
        id = "b"
        title = "B"
        date = 2025-07-02T10:00:00-04:00

        [[events]]
        id = "c"
        title = "C"
        start = 2025-07-02T11:00:00
        end = 2025-07-02T10:00:00
        """)
    assert problems(text) == [
        "cals/x.toml:9: [[events]] #1 (id 'a'): start = 2025-07-02: needs a time, e.g. "
        "2025-07-02T09:30:00; for a date-only event use date = 2025-07-02",
        "cals/x.toml:14: [[events]] #2 (id 'b'): date = 2025-07-02T10:00:00-04:00: must be a "
        "date such as 2025-07-02; for a time use start = 2025-07-02T09:30:00",
        "cals/x.toml:16: [[events]] #3 (id 'c'): end 2025-07-02T10:00:00 is not after start "
        "2025-07-02T11:00:00",
    ]


def test_patterns_said_in_words() -> None:
    text = '[case]\nid = "bad id"\ntitle = "T"\n\n[[events]]\nid = "a"\nkind = "Hearing"\n' \
           'title = "A"\ndate = 2025-07-02\n'
    assert problems(text) == [
        "cals/x.toml:2: [case]: id = 'bad id': must be letters, digits, '.', '_' or '-', "
        "starting with a letter or digit",
        "cals/x.toml:7: [[events]] #1 (id 'a'): kind = 'Hearing': must be lower-case letters, "
        "digits, '_' or '-', starting with a lower-case letter",
    ]
    assert not any("^" in p or "pattern" in p for p in problems(text))


def test_unknown_key_suggests_the_closest_one() -> None:
    text = CASE + '\n[[events]]\nid = "a"\nknd = "hearing"\ntitle = "A"\ndate = 2025-07-02\n' \
                  '\n[[events]]\nid = "b"\nxyzzy = 1\ntitle = "B"\ndate = 2025-07-03\n'
    assert problems(text) == [
        "cals/x.toml:8: [[events]] #1 (id 'a'): unknown key 'knd' (did you mean 'kind'?)",
        "cals/x.toml:14: [[events]] #2 (id 'b'): unknown key 'xyzzy'",
    ]


def test_calendar_file_not_utf8_gives_line_and_column() -> None:
    raw = (CASE + 'notes = "caf\xe9"\n').encode("latin-1")
    with pytest.raises(CalendarError) as e:
        parse_calendar(raw, Path("x.toml"), "cals/x.toml")
    assert e.value.problems == [
        "cals/x.toml: not UTF-8 text (byte 0xe9 at line 5, column 13); save it as UTF-8"]


def config_error(tmp_path: Path, body: str) -> str:
    cfg = tmp_path / "config.toml"
    cfg.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env={})
    return str(e.value).replace(str(cfg), "config.toml")


def test_config_unknown_key_has_its_line_and_a_suggestion(tmp_path: Path) -> None:
    assert config_error(tmp_path, """
        [calendars]
        paths = ["calendars"]

        [server]
        host = "127.0.0.1"
        prot = 8081
        """) == "config.toml:6: unknown key 'server.prot' (did you mean 'server.port'?)"
    assert config_error(tmp_path, """
        [[channels]]
        name = "a"
        url = "json://127.0.0.1/a"

        [[channels]]
        name = "b"
        url = "json://127.0.0.1/b"
        notfy = ["reminder"]
        """) == ("config.toml:8: unknown key channels[1] (name 'b').notfy "
                 "(did you mean 'notify'?)")
    assert config_error(tmp_path, "[databse]\nurl = \"sqlite:///x.db\"\n") == \
        "config.toml:1: unknown key 'databse' (did you mean 'database'?)"
    assert config_error(tmp_path, "zzzz = 1\n") == "config.toml:1: unknown key 'zzzz'"


def test_config_value_errors_have_their_line_and_words(tmp_path: Path) -> None:
    assert config_error(tmp_path, """
        [[sources]]
        name = "bad name"
        url = "https://example.org/c.ics"
        """) == ("config.toml:2: key sources[0] (name 'bad name').name: must be letters, "
                 "digits, '.', '_' or '-', starting with a letter or digit (value: 'bad name')")


def test_config_not_utf8_gives_line_and_column(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_bytes(b'[server]\nbase_url = "http://h\xff"\n')
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env={})
    assert str(e.value) == (f"{cfg}: not UTF-8 text (byte 0xff at line 2, column 21); "
                            "save it as UTF-8")
