"""Secret tokens for private feeds: create, list, revoke, verify.

Call :func:`create_token` (returns the secret once; only its SHA-256 is stored),
:func:`verify_token` on every request when ``[feed] private`` is on, and
:func:`revoke_token` to withdraw one. A token is 256 random bits
(``secrets.token_urlsafe(32)``), so a fast hash is enough: nobody can guess it
from the hash. Never log a token; :func:`redact` removes one from a URL.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from ..errors import NotifierError
from ..logs import redact_request
from ..store import Store
from ..store.models import Case, FeedToken
from ..timeutil import utcnow

_REDACT = re.compile(r"(?i)(token=)[^&\s\"]*")
# Matched as the server decodes them (see :func:`notifier.logs.redact_request`).
_TOKEN_NAME = re.compile(r"token", re.IGNORECASE)
_SECRET_PATHS = re.compile(r"/follow/calendar/|/webhooks/courtlistener/", re.IGNORECASE)


@dataclass(frozen=True)
class TokenScope:
    """What a valid token opens: every case (``case_id`` None) or one case."""

    id: int
    case_id: str | None

    def allows(self, case_id: str | None) -> bool:
        return self.case_id is None or self.case_id == case_id


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def redact(text: str) -> str:
    """``...?token=abc`` -> ``...?token=<redacted>``, and the secret in a subscriber's
    calendar path ``/follow/calendar/<token>.ics`` and in a webhook's path likewise (for
    anything logged). Percent-encoded forms (``?%74oken=``, ``/follow/%63alendar/``) and
    other cases are redacted as well: the server decodes them to the same route."""
    return redact_request(_REDACT.sub(r"\1<redacted>", text), _TOKEN_NAME, _SECRET_PATHS,
                          "<redacted>")


def create_token(store: Store, case_id: str | None = None, label: str | None = None,
                 now: datetime | None = None,
                 defined: Collection[str] = ()) -> tuple[FeedToken, str]:
    """A new token row and the secret itself, which is shown once and never stored.

    ``defined``: case ids the calendar files define, so a token can be made for a case
    before its first sync."""
    secret = secrets.token_urlsafe(32)
    with store.write() as s:
        if case_id is not None and case_id not in defined and s.get(Case, case_id) is None:
            raise NotifierError(f"no case {case_id!r} (see `notifier events`)")
        row = FeedToken(token_hash=hash_token(secret), case_id=case_id, label=label,
                        created_at=now or utcnow())
        s.add(row)
        s.flush()
        s.refresh(row)
    return row, secret


def list_tokens(store: Store) -> list[FeedToken]:
    with store.read() as s:
        return list(s.exec(select(FeedToken).order_by(col(FeedToken.id))).all())


def revoke_token(store: Store, token_id: int, now: datetime | None = None) -> FeedToken:
    with store.write() as s:
        row = s.get(FeedToken, token_id)
        if row is None:
            raise NotifierError(f"no feed token with id {token_id} (see `notifier feed token "
                                "list`)")
        if row.revoked_at is None:
            row.revoked_at = now or utcnow()
            s.add(row)
        return row


def verify_token(store: Store, token: str | None) -> TokenScope | None:
    """The scope of a valid, unrevoked token; None for a missing, wrong or revoked one."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    with store.read() as s:
        row = s.exec(select(FeedToken).where(FeedToken.token_hash == digest)).first()
    # The lookup is by hash, so timing reveals nothing about the secret; the
    # constant-time comparison guards against a lookup that matched loosely.
    if row is None or row.revoked_at is not None or row.id is None:
        return None
    if not hmac.compare_digest(row.token_hash, digest):
        return None
    return TokenScope(id=row.id, case_id=row.case_id)
