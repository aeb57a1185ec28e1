"""notifier: a court-calendar notification daemon.

The sub-packages follow the data: ``config`` -> ``calendars`` / ``sources`` (files and
feeds -> specs) -> ``tracking`` (specs -> events + history in ``store``) -> ``feeds``
(iCal) and ``notify`` (reminders, alerts, delivery) -> ``server`` (the daemon) ->
``cli``. A package imports only from packages before it; the modules at this level
(``errors``, ``timeutil``, ``specs``, ``display``, ``logs``, ``metrics``) are shared by
all. ``tests/test_layers.py`` enforces this.

Start with :mod:`notifier.cli` (the ``notifier`` command) or, as a library,
:func:`notifier.config.load_settings` then :class:`notifier.store.Store`.
"""

__version__ = "0.1.0"
