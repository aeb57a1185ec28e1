"""What sync last read of each calendar file (the ``calendar_file`` table).

:func:`known` gives the stamps :func:`notifier.calendars.folders.scan` needs to skip
unchanged files; :func:`save` upserts stamps (in the transaction that applied the
file, so a stamp never outlives a rolled-back apply); :func:`forget` drops them when
something other than the file's own sync changed its events (a deleted file, a
prune), so the file is read again next time.

A stamp is only trusted when it was written by the same parser: ``PARSER`` is a hash
of the code that turns files into specs, so an upgrade that reads files differently
reads every file again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from contextlib import suppress
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import Session

from .. import __version__, specs
from ..calendars import folders
from ..calendars.folders import FileStamp
from ..config import tomltext
from ..store.models import CalendarFile

FT = CalendarFile.__table__  # type: ignore[attr-defined]
_CHUNK = 500


@cache
def parser_version() -> str:
    """A fingerprint of the parsing code (the calendars package, specs, TOML reader)."""
    h = hashlib.sha256(__version__.encode())
    paths = sorted(Path(folders.__file__).parent.glob("*.py"))
    for p in [*paths, Path(specs.__file__), Path(tomltext.__file__)]:
        with suppress(OSError):  # not installed as files: the version alone has to do
            h.update(p.read_bytes())
    return h.hexdigest()[:32]


def known(s: Session) -> tuple[dict[str, FileStamp], set[str]]:
    """Every stored stamp written by this parser, by source key; and every stamped
    source (whatever parser wrote it)."""
    version = parser_version()
    out: dict[str, FileStamp] = {}
    every: set[str] = set()
    for r in s.execute(select(FT)):
        every.add(r.source)
        if r.parser != version:
            continue
        problems = tuple(json.loads(r.problems)) if r.problems is not None else None
        out[r.source] = FileStamp(r.size, r.mtime_ns, r.sha256, r.checked_ns, problems)
    return out, every


def save(s: Session, stamps: Mapping[str, FileStamp]) -> None:
    """Insert or replace the stamps of these sources."""
    if not stamps:
        return
    version = parser_version()
    rows = [{"source": src, "size": st.size, "mtime_ns": st.mtime_ns, "sha256": st.sha256,
             "checked_ns": st.checked_ns, "parser": version, "problems": st.problems_json()}
            for src, st in stamps.items()]
    stmt: Any
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        stmt = pg_insert(FT)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert
        stmt = sqlite_insert(FT)
    stmt = stmt.on_conflict_do_update(index_elements=["source"], set_={
        k: stmt.excluded[k] for k in ("size", "mtime_ns", "sha256", "checked_ns", "parser",
                                      "problems")})
    s.execute(stmt, rows)


def forget(s: Session, sources: Iterable[str]) -> None:
    """Drop the stamps of these sources: their files are read again next pass."""
    items = list(sources)
    for i in range(0, len(items), _CHUNK):
        s.execute(delete(FT).where(FT.c.source.in_(items[i:i + _CHUNK])))
