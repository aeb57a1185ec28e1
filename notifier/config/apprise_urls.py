"""Whether Apprise can send with a URL: one answer for ``notifier channels`` and ``check``.

:func:`apprise_plugin` is the decision (Apprise's own parse of the URL; None when it
cannot use it); :func:`url_problem` says why in words; :func:`channel_url_problems`
checks every ``[[channels]] url`` and ``[subscriptions] email`` of the settings, for
``notifier check``. Messages never quote the URL: only its scheme.
"""

from __future__ import annotations

from typing import Any

from ..display import closest
from .settings import Settings
from .tomltext import KeyLines


def apprise_plugin(url: str) -> Any | None:
    """Apprise's plugin for ``url``, or None when Apprise does not recognise the URL
    (unknown service, or parts it cannot read)."""
    import apprise  # lazily: commands without channels do not pay its import

    return apprise.Apprise.instantiate(url, suppress_exceptions=True)


def url_problem(url: str) -> str | None:
    """None when Apprise can use ``url``; else what is wrong, without the URL."""
    if apprise_plugin(url) is not None:
        return None
    if "://" not in url:
        return "not an Apprise URL (no service:// at the start, e.g. slack:// or mailto://)"
    from apprise.manager_plugins import NotificationManager

    scheme = url.split("://", 1)[0]
    services = NotificationManager()
    if scheme.lower() not in services:
        close = closest(scheme.lower(), services.schemas())
        hint = f"; did you mean {close}://?" if close else ""
        return f"not an Apprise URL (scheme {scheme!r} is no service Apprise knows{hint})"
    return (f"not an Apprise URL (scheme {scheme!r}: Apprise cannot read the rest; check it "
            "against the service's page on https://github.com/caronc/apprise/wiki)")


def channel_url_problems(settings: Settings, text: str | None = None) -> list[str]:
    """A message for each channel URL (and subscriptions email URL) Apprise cannot use,
    naming the config file, line (from ``text``, the file's text) and key."""
    lines = KeyLines(text) if text is not None else None
    out = []
    for i, ch in enumerate(settings.channels):
        problem = url_problem(ch.url.get_secret_value())
        if problem:
            line = lines.find("channels", i, "url", header_if_missing=False) if lines else None
            where = f"{settings.origin}:{line}" if line else settings.origin
            out.append(f'{where}: [[channels]] "{ch.name}" url: {problem}')
    email = settings.subscriptions.email
    if email is not None:
        problem = url_problem(email.get_secret_value())
        if problem:
            line = lines.find("subscriptions", None, "email", header_if_missing=False) \
                if lines else None
            where = f"{settings.origin}:{line}" if line else settings.origin
            out.append(f"{where}: [subscriptions] email: {problem}")
    return out
