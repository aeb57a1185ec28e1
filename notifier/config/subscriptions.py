"""``[subscriptions]``: self-service email following of a case (off by default).

:class:`SubscriptionSettings` is read by :mod:`notifier.config.settings`; the feature
itself lives in :mod:`notifier.notify.subscriptions` and :mod:`notifier.server.follow`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from .base import Duration, PositiveDuration, at_least
from .base import Section as _Section


class SubscriptionSettings(_Section):
    enabled: bool = False
    # Any Apprise email URL (mailto:// or mailtos://); each message goes to one
    # subscriber, with List-Unsubscribe headers added per message.
    email: SecretStr | None = Field(default=None, validate_default=True)
    # Signs confirmation, manage and unsubscribe links; put it in the environment
    # (``secret = "${NOTIFIER_SUBSCRIPTIONS_SECRET}"``). At least 32 characters.
    secret: SecretStr | None = Field(default=None, validate_default=True)
    # How early a subscriber may ask to be reminded ("changes only" is always offered).
    offsets: list[Duration] = Field(
        default_factory=lambda: [timedelta(days=d) for d in (1, 7, 15, 30)])
    # Confirmation links expire after this; manage links after ``manage_ttl``.
    # Unsubscribe links never expire (RFC 8058): they work while the address is kept.
    confirm_ttl: PositiveDuration = timedelta(hours=48)
    manage_ttl: PositiveDuration = timedelta(days=180)
    # Sign-ups accepted per client IP and per address within ``rate_window``
    # (counted in the daemon's memory, per process).
    per_ip: int = Field(default=10, ge=1)
    per_address: int = Field(default=3, ge=1)
    rate_window: PositiveDuration = timedelta(hours=1)
    # After a change alert, a subscriber whose personal calendar has not fetched the
    # changed feed within this gets one email saying so (only once it was ever used).
    stale_after: PositiveDuration = timedelta(hours=6)
    # A case with no date left for this long: its subscriptions are deleted (and a
    # subscriber left with none is erased).
    retention: Annotated[Duration, at_least(timedelta(days=1))] = timedelta(days=90)

    @field_validator("offsets")
    @classmethod
    def _offsets(cls, v: list[timedelta]) -> list[timedelta]:
        if not v or len(v) > 10:
            raise ValueError("give between 1 and 10 lead times")
        if any(o <= timedelta(0) for o in v):
            raise ValueError("lead times must be positive")
        return sorted(set(v))

    # Field validators rather than a model validator: an error then names the key and
    # shows its value masked, never the whole section with its secrets.
    @field_validator("email")
    @classmethod
    def _email(cls, v: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if not info.data.get("enabled"):
            return v
        if v is None:
            raise ValueError("enabled = true needs email (an Apprise mailto:// or "
                             "mailtos:// URL)")
        if not v.get_secret_value().startswith(("mailto://", "mailtos://")):
            raise ValueError("must be an Apprise mailto:// or mailtos:// URL")
        return v

    @field_validator("secret")
    @classmethod
    def _secret(cls, v: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("enabled") and (v is None or len(v.get_secret_value()) < 32):
            raise ValueError("enabled = true needs secret (at least 32 characters)")
        return v
