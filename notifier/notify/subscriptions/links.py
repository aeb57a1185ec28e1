"""Signed links for subscribers: confirm (single use), manage and one-click unsubscribe.

Call :class:`Links` with the ``[subscriptions]`` settings and the site's base URL.
A link carries only ids and random values, never the address; it is signed with
itsdangerous (HMAC-SHA1 over a salt per purpose, with a timestamp), so a forged,
altered or expired link is refused; a confirm link also names the subscription's
current nonce, which confirming clears (used once). Manage links name the
subscriber's ``key``, which dies with the subscriber when it is forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ...config import SubscriptionSettings

CONFIRM, MANAGE, FORM = "confirm", "manage", "form"


class LinkError(ValueError):
    """A link that cannot be used; ``expired`` tells an old link from a broken one."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class Links:
    settings: SubscriptionSettings
    base_url: str

    def _signer(self, purpose: str) -> URLSafeTimedSerializer:
        secret = self.settings.secret
        assert secret is not None, "[subscriptions] secret is required when enabled"
        return URLSafeTimedSerializer(secret.get_secret_value(), salt=f"notifier-{purpose}")

    def sign(self, purpose: str, data: Any) -> str:
        return str(self._signer(purpose).dumps(data))

    def load(self, purpose: str, token: str | None, max_age: float) -> Any:
        if not token or len(token) > 500:
            raise LinkError("this link is incomplete or damaged")
        try:
            return self._signer(purpose).loads(token, max_age=int(max_age))
        except SignatureExpired as e:
            raise LinkError("this link has expired", expired=True) from e
        except BadSignature as e:
            raise LinkError("this link is incomplete or damaged") from e

    # -- the links in emails -------------------------------------------------------
    def confirm_url(self, subscription_id: int, nonce: str) -> str:
        tok = self.sign(CONFIRM, [subscription_id, nonce])
        tok = self.sign(CONFIRM, [subscription_id, nonce])
        return f"{self.base_url}/follow/confirm?token={quote(tok)}"

    def manage_token(self, subscriber_id: int, key: str) -> str:
        return self.sign(MANAGE, [subscriber_id, key])

    def manage_url(self, subscriber_id: int, key: str) -> str:
        return f"{self.base_url}/follow/manage?token={quote(self.manage_token(subscriber_id, key))}"

    def unsubscribe_url(self, subscriber_id: int, key: str, case_id: str | None) -> str:
        tok = self.sign(MANAGE, [subscriber_id, key, case_id])
        return f"{self.base_url}/follow/unsubscribe?token={quote(tok)}"

    def confirm_data(self, token: str | None) -> tuple[int, str]:
        data = self.load(CONFIRM, token, self.settings.confirm_ttl.total_seconds())
        if not (isinstance(data, list) and len(data) == 2 and isinstance(data[0], int)
                and isinstance(data[1], str)):
            raise LinkError("this link is incomplete or damaged")
        return data[0], data[1]

    def manage_data(self, token: str | None) -> tuple[int, str, str | None]:
        data = self.load(MANAGE, token, self.settings.manage_ttl.total_seconds())
        if not (isinstance(data, list) and len(data) in (2, 3) and isinstance(data[0], int)
                and isinstance(data[1], str)):
            raise LinkError("this link is incomplete or damaged")
        case = data[2] if len(data) == 3 else None
        return data[0], data[1], case if isinstance(case, str) else None
