"""People following a case by email (``[subscriptions]``, off by default).

Owns: :mod:`.registry` (sign up, confirm, manage, forget, list), :mod:`.links`
(signed links, one purpose each), :mod:`.planning` (one outbox row per subscriber),
:mod:`.mail` (check, write and send a subscriber's email through Apprise),
:mod:`.calendar` (personal calendar links and their fetches), :mod:`.stale` (the
"your calendar still shows the old date" email), :mod:`.lifecycle` (a case's final
email, purging after ``retention``), :mod:`.bounces` (refused addresses),
:mod:`.states` (one state per subscriber) and :mod:`.access` (subscriptions whose
private-feed token was revoked). May import
what :mod:`notifier.notify` may; :mod:`notifier.server.follow` serves the pages.
"""

from __future__ import annotations

from .registry import CHANNEL

__all__ = ["CHANNEL"]
