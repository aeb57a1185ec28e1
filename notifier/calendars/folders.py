"""Read the calendar folders: every ``*.toml`` and ``*.ics`` file into specs.

Call :func:`scan` with the configured folders: it returns one
:class:`~notifier.specs.CalendarSpec` per good file and one
:class:`~notifier.errors.CalendarError` per bad file, so a bad file never
blocks the others, whatever it raises. No database access here.

Given what was read last time (``known``: a :class:`FileStamp` per source key), a
file whose size and modification time are unchanged is not opened, and one whose
content hashes the same is not parsed: it is listed in ``unchanged`` instead (with
its stored parse problems, if it had any, reported again as its error).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..display import not_utf8
from ..errors import CalendarError
from ..specs import CalendarSpec
from ..timeutil import clip
from .icsfile import parse_ics
from .tomlfile import parse_toml_calendar

log = logging.getLogger(__name__)
# File systems with coarse timestamps (2 s on FAT, 1 s on some network shares) can
# give a file rewritten just after it was read the same size and mtime. As git does
# ("racily clean"), a stamp whose content was hashed within this long of the file's
# mtime is not trusted: the file is hashed again.
RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class FileStamp:
    """What was read of one file: size, mtime, content hash, and its parse problems."""

    size: int
    mtime_ns: int
    sha256: str
    checked_ns: int  # when the content was hashed (time.time_ns())
    problems: tuple[str, ...] | None = None  # None: it parsed

    def same_stat(self, st: os.stat_result) -> bool:
        """Whether ``st`` shows the file as it was hashed (no need to read it)."""
        return (st.st_size == self.size and st.st_mtime_ns == self.mtime_ns
                and self.checked_ns - self.mtime_ns >= RACY_NS)

    def problems_json(self) -> str | None:
        return None if self.problems is None else json.dumps(list(self.problems))


@dataclass
class ScanResult:
    """What :func:`scan` found: good files, bad files, and every source key it looked at."""

    calendars: list[CalendarSpec] = field(default_factory=list)
    errors: list[CalendarError] = field(default_factory=list)
    # Source keys of every file present (good or bad) and of folders that could not be read.
    seen: set[str] = field(default_factory=set)
    unreadable_dirs: list[str] = field(default_factory=list)
    # Source keys of files not parsed because they are as ``known`` had them.
    unchanged: set[str] = field(default_factory=set)
    # A fresh stamp for every file whose content was read (parsed or not).
    stamps: dict[str, FileStamp] = field(default_factory=dict)


def read_calendar(path: Path, source: str) -> CalendarSpec:
    """Read and parse one calendar file by its extension."""
    return parse_calendar(_read(path, source), path, source)


def _read(path: Path, source: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise CalendarError(source, [f"{source}: cannot read: {e.strerror or e}"]) from e


def parse_calendar(raw: bytes, path: Path, source: str) -> CalendarSpec:
    """Parse the bytes of calendar file ``path`` by its extension."""
    if path.suffix.lower() == ".ics":
        return parse_ics(raw, source, default_case_id=path.stem)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CalendarError(source, [f"{source}: {not_utf8(raw, e)}"]) from e
    return parse_toml_calendar(text, source)


def _read_new(entry: os.DirEntry[str], source: str, old: FileStamp | None,
              result: ScanResult) -> CalendarSpec | None:
    """Parse ``entry`` unless ``old`` shows it unchanged; stamp whatever was read."""
    try:
        st = entry.stat()  # before reading: a write after it makes the next stat differ
    except OSError as e:  # gone since the listing, or not readable
        raise CalendarError(source, [f"{source}: cannot read: {e.strerror or e}"]) from e
    if old is not None and old.same_stat(st):
        result.unchanged.add(source)
        if old.problems is not None:
            result.errors.append(CalendarError(source, list(old.problems)))
        return None
    path = Path(entry.path)
    raw = _read(path, source)
    sha = hashlib.sha256(raw).hexdigest()
    stamp = FileStamp(st.st_size, st.st_mtime_ns, sha, time.time_ns())
    if old is not None and old.sha256 == sha:
        result.stamps[source] = FileStamp(**{**stamp.__dict__, "problems": old.problems})
        result.unchanged.add(source)
        if old.problems is not None:
            result.errors.append(CalendarError(source, list(old.problems)))
        return None
    try:
        spec = parse_calendar(raw, path, source)
    except CalendarError as e:
        # The content decides these: the same bytes fail the same way, so they are
        # reported again without parsing until the file changes.
        result.stamps[source] = FileStamp(**{**stamp.__dict__,
                                             "problems": tuple(e.problems)})
        raise
    result.stamps[source] = stamp
    return spec


def scan(folders: list[tuple[str, Path]],
         known: Mapping[str, FileStamp] | None = None) -> ScanResult:
    """Read every ``*.toml``/``*.ics`` file in the folders (label, path), sorted by name.

    With ``known``, files unchanged since those stamps are not parsed (module doc).
    """
    known = known or {}
    result = ScanResult()
    for label, folder in folders:
        if not folder.is_dir():
            result.unreadable_dirs.append(label)
            result.errors.append(CalendarError(label, [
                f"{label}: calendar folder not found ({folder}); its stored events are kept"]))
            continue
        try:
            # scandir: the file type comes with the listing and the stat is cached,
            # so an unchanged file costs one stat call.
            with os.scandir(folder) as listing:
                files = sorted((e for e in listing
                                if not e.name.startswith(".")
                                and e.name.lower().endswith((".toml", ".ics")) and e.is_file()),
                               key=lambda e: e.name)
        except OSError as e:
            result.unreadable_dirs.append(label)
            result.errors.append(CalendarError(label, [
                f"{label}: cannot read calendar folder {folder}: {e.strerror or e}; its "
                "stored events are kept"]))
            continue
        prefix = label.rstrip("/")
        for entry in files:
            source = f"{prefix}/{entry.name}"
            result.seen.add(source)
            try:
                spec = _read_new(entry, source, known.get(source), result)
                if spec is not None:
                    result.calendars.append(spec)
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
