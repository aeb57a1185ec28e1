"""Configuration: TOML file -> validated, frozen :class:`Settings`.

Call :func:`load_settings` first. Lookup order: an explicit path, then
``$NOTIFIER_CONFIG``, then ``./config.toml``, then built-in defaults equal to
``config.example.toml``. ``${VAR}`` in any string value is replaced from the
environment. Unknown keys are errors, and every error names the file, the key
and the offending value. Relative paths are resolved against the config file's
folder (or the working directory when running on defaults).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from datetime import time, timedelta
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from ..display import not_utf8
from ..errors import ConfigError
from .base import (
    Clock,
    Duration,
    Offsets,
    PositiveDuration,
    TimeZoneName,
)
from .base import Section as _Section
from .messages import format_errors
from .sources import SourceSettings
from .subscriptions import SubscriptionSettings
from .tomltext import TomlTextError, load_toml

NOTIFICATION_TYPES = ("reminder", "change", "digest", "operator")


class DatabaseSettings(_Section):
    url: str = "sqlite:///data/notifier.db"
    # How often the daemon checks that the SQLite file is still the one it opened
    # and passes PRAGMA quick_check.
    check_interval: Duration = timedelta(minutes=10)

    @field_validator("check_interval")
    @classmethod
    def _positive(cls, v: timedelta) -> timedelta:
        if v < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return v


class CalendarSettings(_Section):
    paths: list[str] = Field(default_factory=lambda: ["calendars"])
    sync_interval: PositiveDuration = timedelta(minutes=1)


def _proxy_address(value: str) -> str:
    """An IP address or network (CIDR) of a reverse proxy, written as Python writes it."""
    try:
        return str(ip_network(value.strip(), strict=True))
    except ValueError as e:
        why = " (host bits set: write the network's first address)" if "host bits" in str(e) \
            else ""
        raise ValueError("not an IP address or network of a reverse proxy, "
                         f'such as "10.0.0.5" or "10.0.0.0/24"{why}') from None


ProxyAddress = Annotated[str, AfterValidator(_proxy_address)]


class ServerSettings(_Section):
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=0, le=65535)
    # Not set: http://localhost:<the port listened on> (ServerSettings.public_url).
    base_url: str = "http://localhost:8080"
    # A client gets this long to send a request's headers, and a response that
    # makes no progress for this long is cut off (slow or idle clients hold sockets).
    client_timeout: Duration = timedelta(seconds=10)
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto headers are believed
    # (addresses or networks). Empty: those headers are ignored from every client.
    trusted_proxies: list[ProxyAddress] = Field(default_factory=list, max_length=100)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        if not re.match(r"^https?://", v):
            raise ValueError(f"base_url {v!r} must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("client_timeout")
    @classmethod
    def _client_timeout(cls, v: timedelta) -> timedelta:
        if not 1 <= v.total_seconds() <= 3600:
            raise ValueError(f"client_timeout {v} must be between 1s and 1h")
        return v

    def public_url(self, port: int | None = None) -> str:
        """The address links point at: ``base_url`` when the config sets it, else
        ``http://localhost:PORT`` of ``port`` (the port listened on; default ``port``)."""
        port = self.port if port is None else port
        if "base_url" in self.model_fields_set or port == 0:  # 0: not bound yet
            return self.base_url
        return f"http://localhost:{port}"


class FeedSettings(_Section):
    # Feeds (and the HTML pages) need a secret token (`notifier feed token create`).
    private: bool = False
    # Cancelled, postponed and removed events stay in the feed (as STATUS:CANCELLED)
    # this many days after the change, so subscribed clients strike or drop them.
    cancelled_days: int = Field(default=30, ge=0, le=3650)
    # Refresh hint for clients (REFRESH-INTERVAL, X-PUBLISHED-TTL).
    refresh_interval: Duration = timedelta(hours=1)
    # How many recent changes each event's description lists.
    history: int = Field(default=5, ge=0, le=100)
    # Memory for whole rendered feeds (MB); the least recently used are dropped.
    cache_mb: int = Field(default=64, ge=1, le=65536)

    @field_validator("refresh_interval")
    @classmethod
    def _positive(cls, v: timedelta) -> timedelta:
        if v.total_seconds() < 60:
            raise ValueError("refresh_interval must be at least 1m")
        return v


class ReminderSettings(_Section):
    offsets: Offsets = Field(
        default_factory=lambda: [timedelta(days=7), timedelta(days=1), timedelta(hours=2)]
    )
    date_only_time: Clock = time(9, 0)
    late_grace: Duration = timedelta(hours=6)
    # Per event kind overrides, e.g. sentencing = ["14d", "1d"].
    kinds: dict[str, Offsets] = Field(default_factory=dict)
    # Reminders are written to the outbox once they are due within this window;
    # the hourly re-plan moves it forward. Bounds the work of a start.
    horizon: Duration = timedelta(days=14)

    @field_validator("horizon")
    @classmethod
    def _horizon(cls, v: timedelta) -> timedelta:
        if v < timedelta(days=1):
            raise ValueError("must be at least 1d")
        return v


NotifyType = Literal["reminder", "change", "digest", "operator"]
_DEFAULT_NOTIFY: tuple[NotifyType, ...] = ("reminder", "change")


class ChannelSettings(_Section):
    """One ``[[channels]]`` entry: an Apprise URL, what it wants, how messages look."""

    name: str = Field(min_length=1)
    url: SecretStr
    notify: list[NotifyType] = Field(default_factory=lambda: list(_DEFAULT_NOTIFY))
    cases: list[str] = Field(default_factory=lambda: ["*"])
    tags: list[str] = Field(default_factory=list)
    kinds: list[str] = Field(default_factory=list)
    # Body format; "auto" = what the Apprise service prefers (Slack: markdown, email: html).
    format: Literal["auto", "text", "markdown", "html"] = "auto"
    # A folder of Jinja2 templates overriding the shipped ones (see README).
    templates: str | None = None
    # Connecting, or waiting for an answer, longer than this cuts a send off (retried later).
    timeout: Duration = timedelta(seconds=15)
    # Apprise ?priority= value for urgent alerts; unset = "high" where the service has it.
    urgent_priority: str | None = None
    # Attach the event as an .ics file; unset = on for services that take attachments
    # and prefer HTML (email).
    attach_ics: bool | None = None
    # Daily agenda: at this court-local time (needs "digest" in notify), the coming days.
    digest_time: Clock | None = None
    digest_days: int = Field(default=7, ge=1, le=62)
    timezone: TimeZoneName = "UTC"
    # Least seconds between two sends on this channel (Apprise's per-service throttle);
    # unset = 1 for email, Apprise's own default for other services; 0 = no wait.
    rate: float | None = Field(default=None, ge=0, le=3600)
    # A private feed's token for this channel's readers: messages then link to the
    # case page with it (without one, a private feed's messages carry no page link).
    feed_token: SecretStr | None = None

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, v: timedelta) -> timedelta:
        if not timedelta(0) < v <= timedelta(minutes=10):
            raise ValueError("must be longer than 0s and at most 10m")
        return v

    def wants_case(self, case_id: str, case_tags: list[str] | None = None) -> bool:
        if not any(fnmatch.fnmatchcase(case_id, pat) for pat in self.cases):
            return False
        return not self.tags or bool(set(self.tags) & set(case_tags or []))

    def wants_kind(self, kind: str) -> bool:
        return not self.kinds or kind in self.kinds


class DeliverySettings(_Section):
    # A notification is dead-lettered after this many failed attempts.
    max_attempts: int = Field(default=8, ge=1, le=100)
    # Retry n waits backoff * 2**(n-1) (with jitter), at most backoff_max.
    backoff: Duration = timedelta(seconds=30)
    backoff_max: PositiveDuration = timedelta(hours=6)
    # How long a claimed row stays reserved for one dispatcher; after a crash the
    # row is retried once the lease expires (at most one duplicate per crash).
    lease: Duration = timedelta(minutes=2)
    # The dispatcher also checks the outbox this often (rows written by another
    # process, e.g. `notifier sync`).
    poll_interval: Duration = timedelta(seconds=30)

    @field_validator("lease", "poll_interval", "backoff")
    @classmethod
    def _positive(cls, v: timedelta) -> timedelta:
        if v <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return v


class HousekeepingSettings(_Section):
    # Finished notifications (sent, dead, withdrawn, missed) and their delivery
    # history are deleted this long after they finished.
    retention: PositiveDuration = timedelta(days=90)
    interval: PositiveDuration = timedelta(hours=1)


class ClusterSettings(_Section):
    # Several daemons on one PostgreSQL database (ignored on SQLite): when the daemon
    # that runs sync, source polling and planning dies, another takes over within this.
    failover: Duration = timedelta(seconds=30)
    # Rows of a channel that no live daemon has known for this long are dead-lettered
    # (a channel known by any daemon seen within it is never claimed elsewhere).
    channel_grace: Duration = timedelta(minutes=10)

    @field_validator("failover", "channel_grace")
    @classmethod
    def _cluster_positive(cls, v: timedelta) -> timedelta:
        if v < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return v


class Settings(_Section):
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    calendars: CalendarSettings = Field(default_factory=CalendarSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    reminders: ReminderSettings = Field(default_factory=ReminderSettings)
    feed: FeedSettings = Field(default_factory=FeedSettings)

    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    housekeeping: HousekeepingSettings = Field(default_factory=HousekeepingSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    channels: list[ChannelSettings] = Field(default_factory=list)
    sources: list[SourceSettings] = Field(default_factory=list)
    subscriptions: SubscriptionSettings = Field(default_factory=SubscriptionSettings)
    # Where the settings came from; not a TOML key.
    origin: str = Field(default="<built-in defaults>", exclude=True)
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)

    @field_validator("channels")
    @classmethod
    def _unique_channels(cls, v: list[ChannelSettings]) -> list[ChannelSettings]:
        _unique([c.name for c in v], "channels")
        return v

    @field_validator("sources")
    @classmethod
    def _unique_sources(cls, v: list[SourceSettings]) -> list[SourceSettings]:
        _unique([s.name for s in v], "sources")
        return v

    def listening_on(self, port: int) -> Settings:
        """These settings for a server listening on ``port``: ``[server] base_url``, when
        the config does not set it, follows the port (``ServerSettings.public_url``)."""
        url = self.server.public_url(port)
        if url == self.server.base_url:
            return self
        return self.model_copy(update={
            "server": self.server.model_copy(update={"base_url": url})})

    def resolve(self, path: str) -> Path:
        """A path from the config, made absolute against the config file's folder."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def calendar_folders(self) -> list[tuple[str, Path]]:
        """(label as configured, absolute path) of every calendar folder."""
        # Labels are normalised ("./cal/" -> "cal"): they are part of every
        # event's source key, so spelling a folder differently must not orphan it.
        return [(os.path.normpath(p), self.resolve(p)) for p in self.calendars.paths]

    def database_url(self) -> str:
        """The database URL with a relative SQLite path made absolute."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            rest = url[len(prefix):]
            if rest and rest != ":memory:":
                return prefix + str(self.resolve(rest))
        return url


def _unique(names: list[str], section: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"duplicate name {n!r} in [[{section}]]")
        seen.add(n)


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _substitute(node: Any, env: Mapping[str, str], where: str, origin: str) -> Any:
    """Replace ``${VAR}`` in every string of a parsed TOML tree."""
    if isinstance(node, dict):
        return {k: _substitute(v, env, f"{where}.{k}" if where else k, origin)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, env, f"{where}[{i}]", origin) for i, v in enumerate(node)]
    if isinstance(node, str):
        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in env:
                raise ConfigError(
                    f"{origin}: key {where}: environment variable ${{{name}}} is not set"
                )
            return env[name]
        return _VAR.sub(repl, node)
    return node


def parse_settings(data: Mapping[str, Any], *, origin: str, base_dir: Path,
                   env: Mapping[str, str] | None = None, text: str | None = None) -> Settings:
    """Validate an already-parsed TOML mapping (``text``, the file it was parsed from,
    gives errors their line numbers)."""
    env = os.environ if env is None else env
    substituted = _substitute(dict(data), env, "", origin)
    try:
        return Settings.model_validate({**substituted, "origin": origin, "base_dir": base_dir})
    except ValidationError as e:
        raise ConfigError(format_errors(e, substituted, origin, text, Settings)) from None
    except Exception as e:
        # A validator raising something pydantic does not collect (OverflowError,
        # OSError...) is still a bad value in this file, not a crash. Its text may
        # quote a secret (a channel URL), so only the type is shown.
        raise ConfigError(f"{origin}: a value could not be read ({type(e).__name__}); "
                          "check the durations, time zones and numbers") from e


def find_config(explicit: str | os.PathLike[str] | None = None,
                env: Mapping[str, str] | None = None) -> Path | None:
    """The config file to use, or None for built-in defaults."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get("NOTIFIER_CONFIG"):
        return Path(env["NOTIFIER_CONFIG"])
    local = Path("config.toml")
    return local if local.exists() else None


def load_settings(path: str | os.PathLike[str] | None = None,
                  env: Mapping[str, str] | None = None) -> Settings:
    """Find, read and validate the configuration (see module docstring for the order)."""
    env = os.environ if env is None else env
    found = find_config(path, env)
    if found is None:
        return Settings()
    try:
        raw = found.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read config file {found}: {e.strerror or e}") from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{found}: {not_utf8(raw, e)}") from e
    try:
        data = load_toml(text)
    except TomlTextError as e:
        raise ConfigError(f"{found}{f':{e.line}' if e.line else ''}: invalid TOML: {e}") from None
    return parse_settings(data, origin=str(found), base_dir=found.resolve().parent, env=env,
                          text=text)
