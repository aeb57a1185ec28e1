"""Property-based fuzzing of calendar files (TOML and .ics) and of the config file.

Every generated input must give either success or an error naming the file: never
an exception of another type (a "traceback"), and never an error from the scan's
safety net for unexpected exceptions (that would be a fault not yet fixed at its
cause). Around each input a real sync runs against a real SQLite file with a good
file beside the fuzzed one: the good file's edit must be applied every time, and
the fuzzed file's stored rows must stay those of its last good version whenever it
fails. Bounded (max_examples, no deadline) to run in CI in seconds; ``pytest -s``
shows one ``FUZZ:`` summary line per target.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parsekit import T0, ics_cal, live_uids, rows_of, toml_cal

from notifier.calendars.icsfile import parse_ics
from notifier.calendars.tomlfile import parse_toml_calendar
from notifier.config import load_settings
from notifier.errors import CalendarError, ConfigError
from notifier.store import Store
from notifier.tracking.sync import sync_calendars

FUZZ = settings(max_examples=120, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- values -------------------------------------------------------------------------

HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),  # any code point, control characters included
    st.sampled_from(["99999999999d", "9" * 400 + "d", "-1d", "1x", "0s", "36501d", "A" * 5000,
                     "America/New_York", "Mars/Olympus", "", " ", "../../etc/passwd", "UTC",
                     "\x00", "a\x1b[31m", "tbd", "scheduled", "all", "x" * 300]),
    st.from_regex(r"\d{1,15}[smhdw]", fullmatch=True),
)
TOML_VALUE = st.one_of(
    HOSTILE_TEXT.map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.integers().map(str),
    st.sampled_from(["inf", "nan", "-0.0", "true", "1979-05-27", "0001-01-01", "9999-12-31",
                     "9999-12-31T23:59:59", "2025-03-09T02:30:00", "2025-07-02T09:30:00-05:00",
                     "2025-07-02T09:30:00", "[]", "{}", '["1d", "2h"]', "[1, [2, [3]]]",
                     "[" + ", ".join(['"1d"'] * 3000) + "]"]),
    st.integers(1, 1200).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 700).map(lambda n: "{a = " * n + "1" + "}" * n),
    st.dates().map(str),
    st.datetimes().map(lambda d: d.isoformat()),
)
# Values aimed at what a key expects, so they get past the type check to the parsers.
DURATIONS = st.one_of(st.builds(lambda n, unit: f"{n}{unit}", st.integers(0, 10**16),
                                st.sampled_from("smhdw")),
                      st.sampled_from(["99999999999d", "36500d", "9" * 400 + "d"])
                      ).map(json.dumps)
ZONES = st.one_of(st.sampled_from(["A" * 5000, "A" * 300, "Etc/GMT+14", "America/New_York",
                                   "right/UTC", "posix/../UTC", "America", "\u0000", ""]),
                  st.from_regex(r"[A-Za-z_/+.-]{1,300}", fullmatch=True)).map(json.dumps)
MOMENTS = st.one_of(st.dates().map(str), st.datetimes().map(lambda d: d.isoformat()),
                    st.sampled_from(["2025-03-09T02:30:00", "9999-12-31T23:59:59"]))
OFFSET_LISTS = st.one_of(st.lists(DURATIONS, max_size=30).map(lambda v: f"[{', '.join(v)}]"),
                         st.integers(0, 5000).map(lambda n: "[" + ", ".join(['"1d"'] * n) + "]"))
KEYED = {"duration": DURATIONS, "timezone": ZONES, "date": MOMENTS, "start": MOMENTS,
         "end": MOMENTS, "end_date": MOMENTS, "offsets": OFFSET_LISTS}
CAL_KEYS = st.sampled_from(["id", "kind", "title", "status", "date", "end_date", "start", "end",
                            "duration", "location", "notes", "url", "judge", "timezone", "tags",
                            "court", "offsets", "kinds", "sentencing", "x"])


@st.composite
def key_value(draw: st.DrawFn, keys: st.SearchStrategy[str] = CAL_KEYS) -> str:
    key = draw(keys)
    aimed = KEYED.get(key.rpartition(".")[2])
    value = draw(aimed if aimed is not None and draw(st.booleans()) else TOML_VALUE)
    return f"{key} = {value}\n"


def _mutate(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply (position, deleted length, inserted text) edits: byte-level-style damage."""
    for pos, cut, ins in edits:
        at = pos % (len(text) + 1)
        text = text[:at] + ins + text[at + cut:]
    return text


EDITS = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 5),
                           st.text(max_size=5) | st.sampled_from(["[", "]", "\n", '"', "=",
                                                                  "\\u0000", "\r\n "])),
                 max_size=4)
# Half the files keep their structure, so the values themselves reach the schema.
SOME_EDITS = st.one_of(st.just([]), EDITS)


CASE_KEYS = st.sampled_from(["court", "judge", "tags", "url", "x"])
EVENT_KEYS = st.sampled_from(["kind", "status", "duration", "end", "location", "notes", "url",
                              "judge", "x", "date", "end_date"])


@st.composite
def toml_files(draw: st.DrawFn) -> str:
    """A calendar file of case "fz" with fuzzed keys and values, sometimes damaged."""
    zone = draw(ZONES) if draw(st.integers(0, 3)) == 0 else '"America/New_York"'
    text = (f'[case]\nid = "fz"\ntitle = "Case fz"\ntimezone = {zone}\n'
            + "".join(draw(key_value(CASE_KEYS)) for _ in range(draw(st.integers(0, 1)))))
    if draw(st.integers(0, 5)) == 0:
        text += "\n[reminders]\n" + draw(key_value(st.sampled_from(["offsets", "kinds.trial",
                                                                     "x"])))
    for eid, day in (("x", "2025-07-02"), ("y", "2025-07-03")):
        text += f'\n[[events]]\nid = "{eid}"\ntitle = "Hearing {eid}"\ndate = {day}\n'
    # A timed event, where durations are added up.
    text += '\n[[events]]\nid = "z"\ntitle = "Trial"\nstart = 2025-07-04T09:30:00\n'
    text += "".join(draw(key_value(EVENT_KEYS)) for _ in range(draw(st.integers(0, 2))))
    return _mutate(text, draw(SOME_EDITS))


ICS_PROPS = st.sampled_from(["DTSTART", "DTSTART;VALUE=DATE", "DTEND", "DURATION", "SUMMARY",
                             "DESCRIPTION", "UID", "RRULE", "STATUS", "CATEGORIES",
                             "X-NOTIFIER-KIND", "LOCATION", "RECURRENCE-ID", "DTSTART;TZID=X"])
ICS_KEYED = {"DURATION": st.builds(lambda n, unit: f"P{n}{unit}", st.integers(0, 10**12),
                                   st.sampled_from("WD")),
             "DTEND": st.from_regex(r"\d{8}(T\d{6}Z?)?", fullmatch=True)}
ICS_VALUES = st.one_of(
    HOSTILE_TEXT.map(lambda s: s.replace("\r", "").replace("\n", "")),
    st.sampled_from(["P99999999W", "-P1W", "PT-5H", "P1D", "PT0S", "P9999999999999D",
                     "20250702T093000Z", "99991231", "00010101", "20250702T093000",
                     "99991231T235959Z", "FREQ=SECONDLY", "FREQ=DAILY;COUNT=99999999999",
                     "TENTATIVE", "CANCELLED"]),
    st.from_regex(r"-?P\d{1,12}[WD]", fullmatch=True),
    st.from_regex(r"\d{8}(T\d{6}Z?)?", fullmatch=True),
)


@st.composite
def ics_files(draw: st.DrawFn) -> bytes:
    extra = ""
    for _ in range(draw(st.integers(0, 3))):
        prop = draw(ICS_PROPS)
        aimed = ICS_KEYED.get(prop)
        value = draw(aimed if aimed is not None and draw(st.booleans()) else ICS_VALUES)
        extra += f"{prop}:{value}\r\n"
    raw = ics_cal([("x@t", "20250702T093000Z"), ("y@t", "20250703T093000Z")], extra)
    text = _mutate(raw.decode("utf-8", "surrogatepass"), draw(SOME_EDITS))
    return text.encode("utf-8", "surrogatepass")


CONFIG_KEYS = st.sampled_from([
    ("calendars", "sync_interval"), ("reminders", "offsets"), ("reminders", "date_only_time"),
    ("reminders", "horizon"), ("reminders", "late_grace"), ("feed", "cancelled_days"),
    ("feed", "refresh_interval"), ("server", "port"), ("server", "base_url"),
    ("delivery", "lease"), ("delivery", "backoff"), ("housekeeping", "retention"),
    ("database", "url"), ("calendars", "paths"), ("server", "x"), ("reminders", "kinds.trial")])
KEYED.update({k: DURATIONS for k in ("sync_interval", "horizon", "late_grace",
                                     "refresh_interval", "lease", "backoff", "retention")})
KEYED["trial"] = OFFSET_LISTS


@st.composite
def config_files(draw: st.DrawFn) -> str:
    sections: dict[str, list[str]] = {}
    for _ in range(draw(st.integers(1, 4))):
        section, key = draw(CONFIG_KEYS)
        sections.setdefault(section, []).append(draw(key_value(st.just(key))))
    text = "".join(f"[{s}]\n" + "".join(lines) for s, lines in sections.items())
    if draw(st.booleans()):
        text += ('[[channels]]\nname = "c"\nurl = "json://127.0.0.1:9/x"\n'
                 + draw(key_value(st.just("timezone"))))
    return _mutate(text, draw(EDITS))


# --- the properties -----------------------------------------------------------------

@dataclass
class Tally:
    """What the fuzzing saw: inputs, failures of the properties (with an example)."""

    name: str
    inputs: int = 0
    ok: int = 0
    errors: int = 0
    tracebacks: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    def report(self) -> None:
        print(f"\nFUZZ: {self.name} inputs={self.inputs} ok={self.ok} errors={self.errors} "
              f"tracebacks={len(self.tracebacks)} lost={len(self.lost)}")
        assert self.inputs > 50
        assert not self.tracebacks, self.tracebacks[:3]
        assert not self.lost, self.lost[:3]


def parse_outcome(parse: Callable[[], object], tally: Tally, shown: object) -> bool:
    """Run a parser: True when it succeeded, False for a proper error, counted otherwise."""
    try:
        parse()
    except (CalendarError, ConfigError):
        return False
    except Exception:
        tally.tracebacks.append(f"{shown!r:.300}\n{traceback.format_exc(limit=-3)}")
        return False
    return True


class Folder:
    """A good file and the fuzzed one in a real calendar folder synced to a real store."""

    def __init__(self, store: Store, cal_dir: Path, name: str, first: bytes) -> None:
        self.store, self.dir, self.name = store, cal_dir, name
        self.source = f"calendars/{name}"
        self.now = T0
        self.flip = False
        (cal_dir / name).write_bytes(first)
        report = self.sync_with_good_edit()
        assert report.ok, report.errors
        self.last_good = rows_of(store, self.source)

    def sync_with_good_edit(self):  # type: ignore[no-untyped-def]
        self.flip = not self.flip
        days = ["2025-07-01", "2025-07-08"] if self.flip else ["2025-07-01"]
        (self.dir / "good.toml").write_text(
            toml_cal("good", [(f"e{i}", d) for i, d in enumerate(days)]), encoding="utf-8")
        self.now += timedelta(minutes=1)
        return sync_calendars(self.store, [("calendars", self.dir)], now=self.now)

    def check(self, data: bytes, tally: Tally, parse: Callable[[], object]) -> None:
        tally.inputs += 1
        parsed = parse_outcome(parse, tally, data)
        (self.dir / self.name).write_bytes(data)
        try:
            report = self.sync_with_good_edit()
        except Exception:
            tally.tracebacks.append(f"{data!r:.300}\n{traceback.format_exc(limit=-3)}")
            return
        expected_good = {"good/e0@notifier", "good/e1@notifier"} if self.flip else \
            {"good/e0@notifier"}
        if live_uids(self.store, "calendars/good.toml") != expected_good:
            tally.lost.append(f"good file not synced beside {data!r:.300}")
        other = [e for e in report.errors if e.path != self.source]
        if other:
            tally.lost.append(f"error for another file: {other[0]}")
        mine = [e for e in report.errors if e.path == self.source]
        text = "\n".join(p for e in mine for p in e.problems)
        if "could not be read (" in text or "could not be applied (" in text:
            tally.tracebacks.append(f"{data!r:.300}\nunexpected: {text[:500]}")
        if mine:
            tally.errors += 1
            if not all(p.startswith(self.source) for p in (q for e in mine for q in e.problems)):
                tally.lost.append(f"error not naming the file: {text[:300]}")
            if rows_of(self.store, self.source) != self.last_good:
                tally.lost.append(f"rows of the last good version changed by {data!r:.300}")
        else:
            tally.ok += 1
            if not parsed:
                tally.lost.append(f"parse failed but sync succeeded: {data!r:.300}")
            self.last_good = rows_of(self.store, self.source)


def test_fuzz_toml_calendar_files(store: Store, cal_dir: Path) -> None:
    tally = Tally("toml")
    first = toml_cal("fz", [("x", "2025-07-02"), ("y", "2025-07-03")]).encode()
    folder = Folder(store, cal_dir, "fz.toml", first)

    @FUZZ
    @given(toml_files())
    def one(text: str) -> None:
        data = text.encode("utf-8", "surrogatepass")
        folder.check(data, tally,
                     lambda: parse_toml_calendar(data.decode("utf-8"), folder.source))

    one()
    tally.report()


def test_fuzz_ics_calendar_files(store: Store, cal_dir: Path) -> None:
    tally = Tally("ics")
    first = ics_cal([("x@t", "20250702T093000Z"), ("y@t", "20250703T093000Z")])
    folder = Folder(store, cal_dir, "fz.ics", first)

    @FUZZ
    @given(ics_files())
    def one(data: bytes) -> None:
        folder.check(data, tally, lambda: parse_ics(data, folder.source, default_case_id="fz"))

    one()
    tally.report()


def test_fuzz_config_files(tmp_path: Path) -> None:
    tally = Tally("config")
    path = tmp_path / "config.toml"

    @FUZZ
    @given(config_files())
    def one(text: str) -> None:
        tally.inputs += 1
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            load_settings(path, env={})
        except ConfigError as e:
            tally.errors += 1
            if str(path) not in str(e):
                tally.lost.append(f"error not naming the file: {e}")
            if "could not be read (" in str(e):
                tally.tracebacks.append(f"{text!r:.300}\nunexpected: {e}")
            return
        except Exception:
            tally.tracebacks.append(f"{text!r:.300}\n{traceback.format_exc(limit=-3)}")
            return
        tally.ok += 1

    one()
    tally.report()
