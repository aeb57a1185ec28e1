"""What the feed service hands out: feeds with their validators, the data behind the
pages, and the options a configuration gives the renderer.

:mod:`.cache` builds these; the web server, the CLI and email attachments read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..config import Settings
from .ical import FeedCase, FeedEvent, FeedOptions

MB = 1 << 20


class FeedBusy(Exception):
    """The cache is being (re)built and did not become free within the caller's wait."""


def options_from(settings: Settings) -> FeedOptions:
    return FeedOptions(base_url=settings.server.base_url,
                       refresh_interval=settings.feed.refresh_interval,
                       keep_cancelled=timedelta(days=settings.feed.cancelled_days),
                       history=settings.feed.history, links=not settings.feed.private)


@dataclass(frozen=True)
class Rendered:
    """One feed's bytes and the validators the HTTP layer sends with them."""

    body: bytes
    etag: str  # strong, quoted
    last_modified: datetime | None
    version: int
    valid_until: datetime | None


@dataclass(frozen=True)
class Snapshot:
    """The data behind the feeds at one moment (for the HTML pages)."""

    cases: dict[str, FeedCase]
    events: tuple[FeedEvent, ...]  # dated in time order, then undated
