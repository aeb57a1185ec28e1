"""Read the calendar folders: every ``*.toml`` and ``*.ics`` file into specs.

Call :func:`scan` with the configured folders: it returns one
:class:`~notifier.specs.CalendarSpec` per good file and one
:class:`~notifier.errors.CalendarError` per bad file, so a bad file never
blocks the others, whatever it raises. No database access here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CalendarError
from ..specs import CalendarSpec
from ..timeutil import clip
from .icsfile import parse_ics
from .tomlfile import parse_toml_calendar

log = logging.getLogger(__name__)


@dataclass
class ScanResult:
    """What :func:`scan` found: good files, bad files, and every source key it looked at."""

    calendars: list[CalendarSpec] = field(default_factory=list)
    errors: list[CalendarError] = field(default_factory=list)
    # Source keys of every file present (good or bad) and of folders that could not be read.
    seen: set[str] = field(default_factory=set)
    unreadable_dirs: list[str] = field(default_factory=list)


def read_calendar(path: Path, source: str) -> CalendarSpec:
    """Read and parse one calendar file by its extension."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CalendarError(source, [f"{source}: cannot read: {e.strerror or e}"]) from e
    if path.suffix.lower() == ".ics":
        return parse_ics(raw, source, default_case_id=path.stem)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CalendarError(source, [f"{source}: not UTF-8 text ({e.reason} at byte "
                                     f"{e.start})"]) from e
    return parse_toml_calendar(text, source)


def scan(folders: list[tuple[str, Path]]) -> ScanResult:
    """Read every ``*.toml``/``*.ics`` file in the folders (label, path), sorted by name."""
    result = ScanResult()
    for label, folder in folders:
        if not folder.is_dir():
            result.unreadable_dirs.append(label)
            result.errors.append(CalendarError(label, [
                f"{label}: calendar folder not found ({folder}); its stored events are kept"]))
            continue
        try:
            files = sorted(p for p in folder.iterdir()
                           if p.is_file() and p.suffix.lower() in (".toml", ".ics")
                           and not p.name.startswith("."))
        except OSError as e:
            result.unreadable_dirs.append(label)
            result.errors.append(CalendarError(label, [
                f"{label}: cannot read calendar folder {folder}: {e.strerror or e}; its "
                "stored events are kept"]))
            continue
        for path in files:
            source = f"{label.rstrip('/')}/{path.name}"
            result.seen.add(source)
            try:
                result.calendars.append(read_calendar(path, source))
            except CalendarError as e:
                result.errors.append(e)
            except Exception as e:
                # A parser fault on one file (a library raising a type we did not
                # expect) is that file's error: the others still sync and, as the
                # file is in ``seen``, its stored events are kept as they were.
                log.exception("unexpected error reading %s", source)
                result.errors.append(CalendarError(source, [
                    f"{source}: could not be read ({type(e).__name__}: {clip(str(e), 200)}); "
                    "its stored events are kept"]))
    return result
