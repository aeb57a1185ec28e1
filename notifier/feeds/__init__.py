"""Events -> iCalendar feeds: rendering, the per-event fragment cache, private tokens.

Owns: :mod:`.ical` (pure rendering), :mod:`.cache` (:class:`~.cache.FeedService`, what
the server and ``feed export`` call), :mod:`.persist` (fragments and the last
``all.ics`` kept in the database for restarts) with :mod:`.restarts` (the cache's
side of them) and :mod:`.tokens`. May import: ``tracking`` (change labels), ``store``,
``config`` and the shared top-level modules; never ``notify``, ``server`` or ``cli``.
"""
