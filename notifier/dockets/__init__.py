"""Court dockets: reading hearing dates from docket entry text.

:mod:`.extract` is pure (text and a filing date in, facts out: no database, no
network, no clock). Docket *sources* (CourtListener, PACER RSS) live in
:mod:`notifier.sources` and apply these facts through the normal sync.

May import: ``timeutil``, ``errors``.
"""
