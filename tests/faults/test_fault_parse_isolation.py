"""One bad calendar file is that file's error, whatever the parser raises.

For every kind of fault (values that overflowed, nesting that recursed, a time-zone
name the file system rejects, control characters, bad encodings, and exceptions of
any type injected into the parser) a sync pass must: report one error naming the
file, still apply the other files' changes, and leave the bad file's stored rows
exactly as its last good version left them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from parsekit import T0, ics_cal, live_uids, rows_of, toml_cal

import notifier.calendars.folders as folders_module
from notifier.store import Store
from notifier.tracking.sync import sync_calendars

GOOD_V1 = toml_cal("good", [("a", "2025-07-01")])
GOOD_V2 = toml_cal("good", [("a", "2025-07-01"), ("b", "2025-07-08")])
BAD_TOML_V1 = toml_cal("bad", [("x", "2025-07-02"), ("y", "2025-07-03")])
BAD_ICS_V1 = ics_cal([("x@t", "20250702T093000Z"), ("y@t", "20250703T093000Z")])


def _timed(duration: str) -> str:
    return BAD_TOML_V1 + ('\n[[events]]\nid = "z"\ntitle = "Trial"\n'
                          f'start = 2025-07-04T09:30:00\nduration = "{duration}"\n')


# (file name, bad content, regexes the error must match: file, line, key, value)
CONTENT_FAULTS = {
    "duration-overflow": ("bad.toml", _timed("99999999999d"),
                          [r"calendars/bad\.toml:22: \[\[events\]\] #3 \(id 'z'\): "
                           r"duration = '99999999999d': .*too long"]),
    "deep-array": ("bad.toml", toml_cal("bad", [("x", "2025-07-02")],
                                        extra_case="tags = " + "[" * 1000 + "]" * 1000 + "\n"),
                   [r"calendars/bad\.toml:5: invalid TOML: key tags: .*nested too deeply"]),
    "deep-inline-tables": ("bad.toml", BAD_TOML_V1 + "x = " + "{a = " * 600 + "1" + "}" * 600,
                           [r"calendars/bad\.toml:\d+: invalid TOML: key x: .*nested too deep"]),
    "long-zone-name": ("bad.toml", toml_cal("bad", [("x", "2025-07-02")], tz="A" * 5000),
                       [r"calendars/bad\.toml:4: \[case\]: timezone = 'AAAA.*\(5002 characters\)"
                        r".*unknown time zone"]),
    "ics-duration-overflow": ("bad.ics", ics_cal([("x@t", "20250702T093000Z")],
                                                 "DURATION:P99999999W\r\n"),
                              [r"calendars/bad\.ics: VEVENT #1 \('Hearing x@t'\): .*DURATION of "
                               r"699999993 days is too long"]),
    "ics-long-summary": ("bad.ics", ics_cal([("x@t", "20250702T093000Z")],
                                            "DURATION:P99999999W\r\n").replace(
        b"SUMMARY:Hearing x@t", b"SUMMARY:" + b"S" * 5000),
        [r"calendars/bad\.ics: VEVENT #1 \('SSSS.*\(5002 characters\)\): .*DURATION"]),
    "ics-dtend-year": ("bad.ics", ics_cal([("x@t", "20250702T093000Z")],
                                          "DTEND:99991231T000000Z\r\n"),
                       [r"calendars/bad\.ics: VEVENT #1 .*DTEND year 9999"]),
    "toml-nul": ("bad.toml", BAD_TOML_V1.replace('title = "Hearing y"',
                                                 'title = "Hearing\\u0000y"'),
                 [r"calendars/bad\.toml:15: \[\[events\]\] #2: title = 'Hearing\\x00y': "
                  r"control characters"]),
    "toml-escape": ("bad.toml", BAD_TOML_V1 + 'notes = "\\u001b[31mred"\n',
                    [r"calendars/bad\.toml:\d+: \[\[events\]\] #2: notes = '\\x1b\[31mred': "
                     r"control characters"]),
    "ics-nul": ("bad.ics", ics_cal([("x@t", "20250702T093000Z")], "DESCRIPTION:a\x00b\r\n"),
                [r"calendars/bad\.ics: VEVENT #1 .*DESCRIPTION = 'a\\x00b': control characters"]),
    "not-utf8": ("bad.toml", b"[case]\nid = \"bad\"\ntitle = \"\xff\xfe\"\n",
                 [r"calendars/bad\.toml: not UTF-8"]),
    "bad-toml": ("bad.toml", "[case\n", [r"calendars/bad\.toml:1: invalid TOML"]),
    "ics-garbage": ("bad.ics", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n:::\r\n",
                    [r"calendars/bad\.ics: "]),
    "offsets": ("bad.toml", BAD_TOML_V1.replace(
        '\n[[events]]', '[reminders]\noffsets = [' + ", ".join(['"1d"'] * 3000) + ']\n'
        '\n[[events]]', 1),
        [r"calendars/bad\.toml:6: \[reminders\]: offsets = \[.*: 3000 reminder offsets; "
         r"at most 20 per list"]),
}


class Pass:
    """A calendar folder with a good file and a bad one, synced at increasing times."""

    def __init__(self, store: Store, cal_dir: Path, bad_name: str) -> None:
        self.store, self.dir, self.bad = store, cal_dir, bad_name
        self.now = T0
        self.write("good.toml", GOOD_V1)
        self.write(bad_name, BAD_ICS_V1 if bad_name.endswith(".ics") else BAD_TOML_V1)
        first = self.sync()
        assert first.ok, first.errors
        self.bad_rows = rows_of(store, f"calendars/{bad_name}")
        assert len(live_uids(store, f"calendars/{bad_name}")) == 2

    def write(self, name: str, content: str | bytes) -> None:
        data = content.encode() if isinstance(content, str) else content
        (self.dir / name).write_bytes(data)

    def sync(self):  # type: ignore[no-untyped-def]
        self.now += timedelta(minutes=1)
        return sync_calendars(self.store, [("calendars", self.dir)], now=self.now)

    def check(self, report, patterns: list[str]) -> None:  # type: ignore[no-untyped-def]
        """One error naming the bad file; the good file's change applied; bad rows kept."""
        assert [e.path for e in report.errors] == [f"calendars/{self.bad}"]
        text = "\n".join(p for e in report.errors for p in e.problems)
        for pattern in patterns:
            assert re.search(pattern, text), (pattern, text)
        assert "Traceback" not in text
        assert len(text) < 2000, "a huge value must not be repeated in full"
        assert live_uids(self.store, "calendars/good.toml") == \
            {"good/a@notifier", "good/b@notifier"}
        assert rows_of(self.store, f"calendars/{self.bad}") == self.bad_rows


@pytest.mark.parametrize("fault", sorted(CONTENT_FAULTS))
def test_bad_content_is_that_files_error(store: Store, cal_dir: Path, fault: str) -> None:
    name, content, patterns = CONTENT_FAULTS[fault]
    world = Pass(store, cal_dir, name)
    world.write("good.toml", GOOD_V2)
    world.write(name, content)
    world.check(world.sync(), patterns)
    # And again on the next pass (the daemon's next interval): still only that error.
    world.check(world.sync(), patterns)


class ParserBug(Exception):
    """An exception type nobody catches on purpose."""


# A fresh exception per raise (an instance raised twice would chain its tracebacks).
INJECTED: dict[str, Callable[[], BaseException]] = {
    "OverflowError": lambda: OverflowError("Python int too large to convert to C int"),
    "RecursionError": lambda: RecursionError("maximum recursion depth exceeded"),
    "OSError": lambda: OSError(36, "File name too long"),
    "ValueError": lambda: ValueError("bad value"),
    "UnicodeDecodeError": lambda: UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start"),
    "KeyError": lambda: KeyError("DTSTART"),
    "TypeError": lambda: TypeError("'NoneType' object is not subscriptable"),
    "MemoryError": MemoryError,
    "ParserBug": lambda: ParserBug("something nobody expected"),
}


@pytest.mark.parametrize("kind", sorted(INJECTED))
@pytest.mark.parametrize("bad_name", ["bad.toml", "bad.ics"])
def test_any_exception_from_a_parser_is_that_files_error(
        store: Store, cal_dir: Path, monkeypatch: pytest.MonkeyPatch, kind: str,
        bad_name: str) -> None:
    world = Pass(store, cal_dir, bad_name)
    real_toml, real_ics = folders_module.parse_toml_calendar, folders_module.parse_ics

    def raising(real):  # type: ignore[no-untyped-def]
        def parse(data, source, *args, **kwargs):  # type: ignore[no-untyped-def]
            if source.endswith(bad_name):
                raise INJECTED[kind]()
            return real(data, source, *args, **kwargs)
        return parse

    monkeypatch.setattr(folders_module, "parse_toml_calendar", raising(real_toml))
    monkeypatch.setattr(folders_module, "parse_ics", raising(real_ics))
    world.write("good.toml", GOOD_V2)
    # Edited, so it is parsed again (an unchanged file is skipped without parsing).
    original = BAD_ICS_V1 if bad_name.endswith(".ics") else BAD_TOML_V1
    world.write(bad_name, original + (b"\r\n" if isinstance(original, bytes) else "\n"))
    world.check(world.sync(), [rf"calendars/{re.escape(bad_name)}: could not be read "
                               rf"\({kind}\b.*its stored events are kept"])
