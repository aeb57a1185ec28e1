"""Domain errors. Every failure a user can cause is a :class:`NotifierError`.

The CLI turns these into exit code 1 with the message; nothing else should
catch them broadly.
"""

from __future__ import annotations


class NotifierError(Exception):
    """A problem the user can fix (bad config, bad calendar file, unreachable DB...)."""


class ConfigError(NotifierError):
    """The configuration file or environment is invalid."""


class CalendarError(NotifierError):
    """A calendar file (or remote source) could not be read or is invalid.

    ``problems`` holds every individual message, so ``notifier check`` can report
    them all at once.
    """

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class StoreError(NotifierError):
    """The database cannot be opened or migrated."""


class DeliveryError(NotifierError):
    """Sending one notification failed. ``permanent`` means retrying will not help;
    ``retry_after`` (seconds) is how long the channel asked us to wait (429/503)."""

    def __init__(self, message: str, *, permanent: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
