"""Subscriptions whose private-feed authorization was withdrawn.

With ``[feed] private``, a sign-up is allowed only through a feed token that opens
the case, and the subscription records that token's id (``feed_token_id``). When
``notifier feed token revoke`` withdraws it, the subscription counts as silenced:
:func:`allowed` is the SQL condition the planners and the personal calendar add
(nothing more is planned or shown for it), :func:`revoked` the check for one row
(at dispatch and on a new sign-up, which then asks for a new confirmation).
Subscriptions made in public mode (no token id) are never silenced here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from ...store.models import FeedToken

_TOKENS = FeedToken.__table__  # type: ignore[attr-defined]


def allowed(token_id: Any) -> Any:
    """SQL: true when the subscription's column ``token_id`` is empty or names a feed
    token not revoked."""
    live = sa.select(_TOKENS.c.id).where(_TOKENS.c.id == token_id,
                                         _TOKENS.c.revoked_at.is_(None)).exists()
    return sa.or_(token_id.is_(None), live)


def revoked(s: Session, token_id: int | None) -> bool:
    """Whether the subscription's authorizing token was revoked (or is gone)."""
    if token_id is None:
        return False
    row = s.get(FeedToken, token_id)
    return row is None or row.revoked_at is not None
