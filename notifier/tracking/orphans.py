"""Events whose calendar folder or remote source is no longer in the config.

Sync never removes them on its own: a folder missing from the config may be a typo,
or a mount not there yet, and removing every event of a folder (with a "removed"
alert for each) must be a deliberate act. Until then they stay, with their
reminders. :func:`find` lists them (``notifier sync`` prints a note, the daemon logs
a warning at start); :func:`prune` removes them as if their files had been deleted
(``notifier sync --prune-unconfigured``): history, alerts and withdrawn reminders
as for any removal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from ..config import Settings
from ..specs import SOURCE_PREFIX, is_remote_source
from ..store import Store
from ..store.models import Change, Event
from . import filestate
from .sync import ChangeHook, folder_of, remove_events

PRUNE_HINT = "`notifier sync --prune-unconfigured` removes them"


@dataclass(frozen=True)
class Orphan:
    """Live events of one owner (``Event.source``) the config no longer has."""

    source: str
    events: int

    @property
    def origin(self) -> str:
        """Where they came from, in the config's terms."""
        if is_remote_source(self.source):
            return f"source {self.source.removeprefix(SOURCE_PREFIX)!r}"
        return f"calendar folder {self.source.rpartition('/')[0]!r}"


def _configured(settings: Settings) -> Callable[[str], bool]:
    folders = {label.rstrip("/") for label, _ in settings.calendar_folders()}
    sources = {s.key for s in settings.sources}

    def known(src: str) -> bool:
        if is_remote_source(src):
            return src in sources
        return folder_of(src) in folders
    return known


def find(s: Session, settings: Settings) -> list[Orphan]:
    """Every owner of live events that is in no configured folder or source."""
    known = _configured(settings)
    rows = s.exec(select(Event.source, func.count()).where(col(Event.removed_at).is_(None))
                  .group_by(Event.source).order_by(Event.source)).all()
    return [Orphan(src, n) for src, n in rows if not known(src)]


def describe(orphans: Sequence[Orphan]) -> str:
    """One line for the user: how many events are kept, from where, and what to do."""
    by_origin: dict[str, int] = {}
    for o in orphans:
        by_origin[o.origin] = by_origin.get(o.origin, 0) + o.events
    parts = [f"{n} from {origin}" for origin, n in by_origin.items()]
    total = sum(by_origin.values())
    return (f"{total} event(s) are kept though their origin is no longer in the config "
            f"({'; '.join(parts)}); {PRUNE_HINT}")


def prune(store: Store, settings: Settings, now: datetime,
          hook: ChangeHook | None = None) -> list[Change]:
    """Remove the events of every unconfigured owner, one owner per transaction (as
    sync applies one file per transaction: a big prune never holds the database's
    write lock for long, which would hold up the daemon's sends)."""
    with store.read() as s:
        found = find(s, settings)
    changes: list[Change] = []
    for o in found:
        with store.write() as s:
            store.serialize_sync(s)
            rows = s.exec(select(Event).where(Event.source == o.source,
                                              col(Event.removed_at).is_(None))).all()
            done = remove_events(s, rows, now,
                                 where=f"{o.source} ({o.origin} no longer in the config)")
            # Its file, if it comes back unchanged, must be read again to restore them.
            filestate.forget(s, [o.source])
            if hook and done:
                hook(s, done, now)
        changes += done
    return changes
