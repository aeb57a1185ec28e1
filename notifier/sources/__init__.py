"""Remote sources: court-published iCal feeds and CSV exports, and court dockets, polled safely.

For the daemon: call :func:`poll_due_sources` on a timer (and :func:`next_due` to
know when), passing the outbox's ``hook`` (a :data:`~notifier.tracking.sync.ChangeHook`)
and an ``on_hold`` callback (:data:`HoldHook`) routed to the operator channel.
For the CLI: :func:`fetch_source`, :func:`accept_held`, :func:`source_status`.

Modules: :mod:`.fetch` (HTTP/file download), :mod:`.csvfile` (CSV mapping),
:mod:`.matching` (CSV rows sharing a key -> the stored events they continue),
:mod:`.engine` (missing counters and the mass-change hold), :mod:`.poll`
(orchestration and state), :mod:`.record` and :mod:`.report` (a fetch's state and
outcome), :mod:`.status` (read-only status). Docket sources: :mod:`.dockets` (read,
store, fold, apply), :mod:`.docketfold` (entries -> events, pure),
:mod:`.courtlistener` and :mod:`.pacerrss` (reading upstream), :mod:`.docketreview`
(uncertain facts), :mod:`.docketwebhook` (webhook nudges). May import: ``dockets``, ``tracking``,
``calendars``, ``store``, ``config`` and the shared top-level modules. Its commands are
in :mod:`notifier.cli.sources`.
"""

from __future__ import annotations

from .engine import HoldHook, HoldNotice
from .fetch import USER_AGENT, FetchError
from .poll import (
    FetchReport,
    accept_held,
    backoff,
    fetch_source,
    live_owners,
    next_due,
    parse_body,
    poll_due_sources,
)
from .status import SourceStatus, source_status

__all__ = [
    "USER_AGENT",
    "FetchError",
    "FetchReport",
    "HoldHook",
    "HoldNotice",
    "SourceStatus",
    "accept_held",
    "backoff",
    "fetch_source",
    "live_owners",
    "next_due",
    "parse_body",
    "poll_due_sources",
    "source_status",
]
