"""Court dockets: reading hearing dates from docket entry text.

:mod:`.extract` is the interface (``Fact``, ``extract``) and is pure (text and a filing
date in, facts out: no database, no network, no clock). It runs :mod:`.rules`, which
reads dates and times with :mod:`.dates` and words with :mod:`.phrases`;
:mod:`.entries` parses the entries people hand to ``notifier dockets extract``.
Docket *sources* (CourtListener, PACER RSS) live in :mod:`notifier.sources` and apply
these facts through the normal sync.

May import: ``timeutil``, ``errors``.
"""
