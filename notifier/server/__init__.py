"""The daemon: one process that syncs, plans, dispatches and serves HTTP.

Owns: :mod:`.daemon` (the composition root of ``notifier run``), :mod:`.scheduler`
(the APScheduler ticker), :mod:`.cluster` (several daemons on PostgreSQL: the
leader, heartbeats, channels known elsewhere), :mod:`.web` (the Starlette app; page
templates in ``templates/``), :mod:`.follow` (the pages of following a case by email),
:mod:`.health` and :mod:`.demo` (``notifier run --demo``). May import: every package
except ``cli``.
"""
