"""Configuration: the TOML file -> validated, frozen :class:`Settings`.

Owns: the schema (:mod:`.base` value types, :mod:`.sources` ``[[sources]]``,
:mod:`.settings` everything else and loading, :mod:`.messages` its errors in words,
:mod:`.apprise_urls` whether Apprise can use a channel URL). May import: only the shared
top-level modules (``errors``, ``timeutil``, ``specs``, ``display``) and Apprise. The only
package that reads the environment. Call :func:`load_settings` first.
"""

from __future__ import annotations

from .settings import (
    NOTIFICATION_TYPES,
    CalendarSettings,
    ChannelSettings,
    ClusterSettings,
    DatabaseSettings,
    DeliverySettings,
    FeedSettings,
    HousekeepingSettings,
    ReminderSettings,
    ServerSettings,
    Settings,
    find_config,
    load_settings,
    parse_settings,
)
from .sources import CsvMapping, SourceSettings
from .subscriptions import SubscriptionSettings

__all__ = [
    "NOTIFICATION_TYPES",
    "CalendarSettings",
    "ChannelSettings",
    "ClusterSettings",
    "CsvMapping",
    "DatabaseSettings",
    "DeliverySettings",
    "FeedSettings",
    "HousekeepingSettings",
    "ReminderSettings",
    "ServerSettings",
    "Settings",
    "SourceSettings",
    "SubscriptionSettings",
    "find_config",
    "load_settings",
    "parse_settings",
]
