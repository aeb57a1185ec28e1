"""notifier: a court-calendar notification daemon.

Start with :mod:`notifier.cli` (the ``notifier`` command) or, as a library,
:func:`notifier.config.load_settings` then :class:`notifier.store.Store`.
"""

__version__ = "0.1.0"
