"""Signed links for subscribers: confirm (single use), manage and one-click unsubscribe.

Call :class:`Links` with the ``[subscriptions]`` settings and the site's base URL.
A link carries only ids and random values, never the address; it is signed with
itsdangerous (HMAC-SHA1 over a salt per purpose), so a forged or altered link is
refused, and a link of one purpose opens nothing else: a manage link does not stop a
case, an unsubscribe link neither opens the manage page nor deletes the account.

* confirm: ``[subscription id, nonce]``, expires after ``confirm_ttl``; the nonce is
  the subscription's current one, which confirming clears (used once).
* manage: ``[subscriber id, key]``, expires after ``manage_ttl``.
* unsubscribe: ``[subscriber id, key, case id]``, no expiry (RFC 8058: the button in
  an old email must keep working while the subscription exists).

Manage and unsubscribe links name the subscriber's ``key``, which dies with the
subscriber when it is forgotten, so neither opens anything afterwards. Unsubscribe
links written before purposes had salts of their own (three items under the manage
salt) are still taken by the unsubscribe route, and only there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ...config import SubscriptionSettings

CONFIRM, MANAGE, FORM, UNSUBSCRIBE = "confirm", "manage", "form", "unsubscribe"
_DAMAGED = "this link is incomplete or damaged"


class LinkError(ValueError):
    """A link that cannot be used; ``expired`` tells an old link from a broken one."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def _ids(data: Any, size: int) -> list[Any]:
    """``data`` when it is ``[int, str, ...]`` of ``size`` items, else :class:`LinkError`."""
    if not (isinstance(data, list) and len(data) == size and isinstance(data[0], int)
            and all(isinstance(x, str) for x in data[1:])):
        raise LinkError(_DAMAGED)
    return data


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

    def load(self, purpose: str, token: str | None, max_age: float | None) -> Any:
        """The signed data; ``max_age`` None: no expiry."""
        if not token or len(token) > 500:
            raise LinkError(_DAMAGED)
        try:
            return self._signer(purpose).loads(
                token, max_age=None if max_age is None else int(max_age))
        except SignatureExpired as e:
            raise LinkError("this link has expired", expired=True) from e
        except BadSignature as e:
            raise LinkError(_DAMAGED) from e

    # -- the links in emails -------------------------------------------------------
    def confirm_url(self, subscription_id: int, nonce: str) -> str:
        tok = self.sign(CONFIRM, [subscription_id, nonce])
        return f"{self.base_url}/follow/confirm?token={quote(tok)}"

    def manage_token(self, subscriber_id: int, key: str) -> str:
        return self.sign(MANAGE, [subscriber_id, key])

    def manage_url(self, subscriber_id: int, key: str) -> str:
        return f"{self.base_url}/follow/manage?token={quote(self.manage_token(subscriber_id, key))}"

    def unsubscribe_url(self, subscriber_id: int, key: str, case_id: str) -> str:
        tok = self.sign(UNSUBSCRIBE, [subscriber_id, key, case_id])
        return f"{self.base_url}/follow/unsubscribe?token={quote(tok)}"

    def confirm_data(self, token: str | None) -> tuple[int, str]:
        data = _ids(self.load(CONFIRM, token, self.settings.confirm_ttl.total_seconds()), 2)
        return data[0], data[1]

    def manage_data(self, token: str | None) -> tuple[int, str]:
        """(subscriber id, key) of a manage link; an unsubscribe link is refused."""
        data = _ids(self.load(MANAGE, token, self.settings.manage_ttl.total_seconds()), 2)
        return data[0], data[1]

    def unsubscribe_data(self, token: str | None) -> tuple[int, str, str]:
        """(subscriber id, key, case id) of an unsubscribe link, however old; a
        manage link is refused."""
        try:
            data = self.load(UNSUBSCRIBE, token, None)
        except LinkError:
            try:  # written before unsubscribe links had their own salt
                data = self.load(MANAGE, token, None)
            except LinkError:
                raise LinkError(_DAMAGED) from None
        data = _ids(data, 3)
        return data[0], data[1], data[2]
