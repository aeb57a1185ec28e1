"""The database, the one source of truth: tables, engine and sessions, migrations.

Owns: :mod:`.models` (SQLModel tables), :mod:`.database` (:class:`Store`: engine,
sessions, SQLite pragmas, write locks, Alembic on start), :mod:`.migrations`, and
:mod:`.queries` (read-side queries shared by the CLI and the web pages), :mod:`.watch`
(is the SQLite file still the one opened, intact, with room to write), :mod:`.drivers`
(is the database kind supported and its driver installed), :mod:`.subscribers`
(people following cases by email), :mod:`.subscriber_calendars` (their personal
calendar links and fetches). May import:
only the shared top-level modules; it knows nothing of calendars, feeds or delivery.
"""

from __future__ import annotations

from . import subscriber_calendars as subscriber_calendars  # registers its tables
from . import subscribers as subscribers  # registers its tables
from .database import LaneWriter, Store, alembic_config

__all__ = ["LaneWriter", "Store", "alembic_config"]
