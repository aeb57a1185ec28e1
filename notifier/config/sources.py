"""The ``[[sources]]`` part of the configuration schema: remote calendars and CSV mappings.

:class:`SourceSettings` is one ``[[sources]]`` entry, :class:`CsvMapping` its
``[sources.csv]`` table. Re-exported by :mod:`notifier.config`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from ..specs import RESERVED_CASE_IDS
from .base import KIND, SLUG, Duration, PositiveDuration, TimeZoneName
from .base import Section as _Section

CSV_FIELDS = ("case_number", "case_title", "id", "kind", "title", "date", "time", "end_time",
              "location", "judge", "status", "notes")
EVENT_STATUSES = ("scheduled", "tentative", "tbd", "postponed", "cancelled", "completed")
# Formats whose body is a court docket: entries are read, facts extracted and folded
# into events (notifier.sources.dockets), instead of a calendar parsed.
DOCKET_FORMATS = ("courtlistener", "pacer-rss")
COURTLISTENER_API = "https://www.courtlistener.com/api/rest/v4/"
_DOCKET_URL = re.compile(r"^https?://[^/]+/docket/(\d+)(/|$)")


class CsvMapping(_Section):
    """``[sources.csv]``: which column holds what, and how dates and times are written."""

    # Column names (as in the header row). Only ``date`` is required.
    case_number: str | None = None
    case_title: str | None = None
    id: str | None = None
    kind: str | None = None
    title: str | None = None
    date: str
    time: str | None = None
    end_time: str | None = None
    location: str | None = None
    judge: str | None = None
    status: str | None = None
    notes: str | None = None
    # strptime formats of the date and time cells.
    date_format: str = "%Y-%m-%d"
    time_format: str = "%H:%M"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"
    # Mapped fields whose values make an event's stable id (never the date: a moved
    # hearing must keep its id). Default: id if mapped, else case_number and kind.
    key: list[str] | None = None
    # Event kind when no kind column is mapped or the cell is empty.
    default_kind: str = Field(default="hearing", pattern=KIND)
    # Upstream status words -> notifier statuses (case-insensitive), on top of the
    # built-in ones (scheduled, set, cancelled, canceled, vacated, continued, ...).
    status_map: dict[str, Literal[EVENT_STATUSES]] = Field(  # type: ignore[valid-type]
        default_factory=dict)

    @field_validator("date_format", "time_format")
    @classmethod
    def _has_directive(cls, v: str) -> str:
        if "%" not in v:
            raise ValueError(f"{v!r} is not a strptime format (e.g. \"%m/%d/%Y\", \"%H:%M\")")
        return v

    @field_validator("key")
    @classmethod
    def _key_fields(cls, v: list[str] | None) -> list[str] | None:
        for k in v or []:
            if k not in CSV_FIELDS or k in ("date", "time", "end_time"):
                allowed = [f for f in CSV_FIELDS if f not in ("date", "time", "end_time")]
                raise ValueError(f"key field {k!r} must be one of {', '.join(allowed)}")
        return v

    def key_fields(self) -> list[str]:
        """The mapped fields that identify an event across fetches."""
        if self.key is not None:
            return self.key
        if self.id:
            return ["case_number", "id"] if self.case_number else ["id"]
        return [f for f in ("case_number", "kind") if getattr(self, f)]


class SourceSettings(_Section):
    """One ``[[sources]]`` entry: a court-published calendar, polled."""

    name: str = Field(min_length=1, max_length=100, pattern=SLUG)
    # https, http, webcal, file:// or a local path; for courtlistener the API's base
    # (default: CourtListener's own v4 API).
    url: str = Field(min_length=1)
    format: Literal["ics", "csv", "courtlistener", "pacer-rss"] = "ics"
    # courtlistener: the docket's id or its URL (https://www.courtlistener.com/docket/ID/...).
    docket: str | None = None
    # courtlistener: the API token ("${COURTLISTENER_TOKEN}"), sent as "Authorization: Token".
    token: SecretStr | None = None
    # courtlistener: API requests allowed per hour for this source (CourtListener's own
    # limit is 5,000 an hour per token, shared by everything using it).
    max_requests_per_hour: int = Field(default=200, ge=1, le=5000)
    # courtlistener: the secret path token of its docket-alert webhook
    # (POST /webhooks/courtlistener/<secret>): a delivery makes the source due now.
    webhook_secret: SecretStr | None = None
    # pacer-rss: the docket numbers whose entries are read (as the feed writes them,
    # e.g. "1:26-cr-00123"); items of other cases are ignored.
    case_numbers: list[str] = Field(default_factory=list)
    # The case its events belong to; for CSV optional when case_number is mapped.
    case: str | None = Field(default=None, pattern=SLUG, max_length=200)
    # Court time zone for local times (CSV, floating iCal times) and for new cases.
    timezone: TimeZoneName = "UTC"
    interval: Duration = timedelta(minutes=15)
    enabled: bool = True
    timeout: Duration = timedelta(seconds=30)
    max_bytes: int = Field(default=10_000_000, ge=1)
    max_redirects: int = Field(default=5, ge=0, le=30)
    # Extra request headers, e.g. { Authorization = "Bearer ${COURT_TOKEN}" }.
    headers: dict[str, str] = Field(default_factory=dict)
    max_backoff: PositiveDuration = timedelta(hours=6)
    # An event missing from this many consecutive successful fetches is removed.
    missing_fetches: int = Field(default=2, ge=1, le=100)
    # A fetch that would remove or move more than this share of the source's events
    # is held until the next fetch confirms it or `notifier sources accept NAME`.
    max_change_share: float = Field(default=0.5, gt=0, le=1)
    # Sources with fewer upcoming events than this are never held.
    min_hold_events: int = Field(default=3, ge=1)
    # Recurring iCal events are expanded into occurrences within this window.
    expand_past: Duration = timedelta(days=30)
    expand_future: Duration = timedelta(days=365)
    # A feed over these is an error naming the UID, and nothing is applied: occurrences
    # of one recurring event in the window, and events (occurrences included) in all.
    max_occurrences: int = Field(default=1000, ge=1)
    max_events: int = Field(default=10_000, ge=1)
    csv: CsvMapping | None = None

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", v)
        if m and m.group(1).lower() not in ("http", "https", "webcal", "file"):
            raise ValueError(f"unsupported URL scheme {m.group(1)!r}: use https, http, "
                             "webcal, file or a local path")
        return v

    @field_validator("case")
    @classmethod
    def _not_reserved(cls, v: str | None) -> str | None:
        if v is not None and v.lower() in RESERVED_CASE_IDS:
            raise ValueError(f"case id {v!r} is reserved (/calendars/{v}.ics is the feed of "
                             "every case)")
        return v

    @field_validator("interval", "timeout")
    @classmethod
    def _positive(cls, v: timedelta, info: ValidationInfo) -> timedelta:
        least = timedelta(seconds=10 if info.field_name == "interval" else 1)
        if v < least:
            raise ValueError(f"must be at least {int(least.total_seconds())}s")
        return v

    @property
    def docket_id(self) -> str | None:
        """The CourtListener docket id, from ``docket`` (an id or a docket URL)."""
        if self.docket is None:
            return None
        m = _DOCKET_URL.match(self.docket.strip())
        return m.group(1) if m else self.docket.strip()

    @model_validator(mode="before")
    @classmethod
    def _default_api(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("format") == "courtlistener" and "url" not in data:
            return {**data, "url": COURTLISTENER_API}
        return data

    @field_validator("docket")
    @classmethod
    def _docket_id(cls, v: str | None) -> str | None:
        if v is not None and not (v.strip().isdigit() or _DOCKET_URL.match(v.strip())):
            raise ValueError("must be a CourtListener docket id (digits) or docket URL "
                             "(https://www.courtlistener.com/docket/ID/...)")
        return v

    @model_validator(mode="after")
    def _docket_fits(self) -> SourceSettings:
        if self.format == "courtlistener":
            if self.docket is None:
                raise ValueError('format = "courtlistener" needs docket = "<id or docket URL>"')
            if self.token is None or not self.token.get_secret_value():
                raise ValueError('format = "courtlistener" needs token = '
                                 '"${COURTLISTENER_TOKEN}" (an API token from your '
                                 "CourtListener profile)")
        else:
            for key in ("docket", "token", "webhook_secret"):
                if getattr(self, key) is not None:
                    raise ValueError(f'{key} is only for format = "courtlistener"')
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else None
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9._~-]{16,200}", secret):
            raise ValueError("webhook_secret must be 16 to 200 letters, digits or . _ ~ - "
                             "(it is a URL path segment; e.g. `openssl rand -hex 20`)")
        if self.is_docket and "timezone" not in self.model_fields_set:
            # Entry times ("10:00 AM") are the court's wall clock; a silent UTC default
            # would put every hearing hours off.
            raise ValueError(f'format = "{self.format}" needs timezone = "<the court\'s zone>" '
                             '(e.g. "America/New_York"): entry times are local to the court')
        if self.format == "pacer-rss" and self.case is not None and len(self.case_numbers) > 1:
            raise ValueError("case = is for one case number; leave it out to get one case per "
                             "number in case_numbers")
        if self.format == "pacer-rss" and not self.case_numbers:
            raise ValueError('format = "pacer-rss" needs case_numbers = ["1:26-cr-00123", ...] '
                             "(the feed lists every case of the court)")
        if self.case_numbers and self.format != "pacer-rss":
            raise ValueError('case_numbers is only for format = "pacer-rss"')
        return self

    @property
    def is_docket(self) -> bool:
        return self.format in DOCKET_FORMATS

    @model_validator(mode="after")
    def _format_fits(self) -> SourceSettings:
        if self.format == "csv":
            if self.csv is None:
                raise ValueError('format = "csv" needs a [sources.csv] table mapping the '
                                 "columns (at least date = \"<column>\")")
            if self.case is None and not self.csv.case_number:
                raise ValueError('a CSV source needs case = "<id>" or a case_number column '
                                 "in [sources.csv]")
            for k in self.csv.key_fields():
                if k != "case_number" and not getattr(self.csv, k):
                    raise ValueError(f"[sources.csv] key field {k!r} is not mapped to a column")
        elif self.csv is not None:
            raise ValueError('[sources.csv] is only for format = "csv"')
        return self

    @property
    def key(self) -> str:
        """The owner key of this source's events and cases (``Event.source``)."""
        return f"source:{self.name}"
