"""Reminders and change alerts: plan them, queue them, send them, record every attempt.

Owns: :mod:`.planner` (pure), :mod:`.outbox` (writes, claims, pruning) and
:mod:`.outbox_read` (the read side), :mod:`.digest`, :mod:`.dispatch` (lanes and
claims) with :mod:`.dispatch_row` (re-check, render, send one row),
:mod:`.dispatch_outcome` (record what became of it), its per-message SQL
:mod:`.dispatch_sql` and its lanes' failure state :mod:`.lane_health`,
:mod:`.messages` (templates in ``templates/``),
:mod:`.delivery` (Apprise), :mod:`.ics_attachment`, :mod:`.channel_health`. May import:
``feeds``, ``sources``, ``tracking``, ``calendars``, ``store``, ``config`` and the shared
top-level modules; never ``server`` or ``cli``.
"""
