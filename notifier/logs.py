"""Logging setup: readable lines or JSON lines, with secrets masked everywhere.

Call :func:`setup_logging` once at start, then :func:`register_secret` for every
secret the process knows (Apprise URLs, feed tokens). The mask runs as a handler
filter, so third-party loggers (uvicorn, apprise, apscheduler) are covered too.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from .config import Settings

MASK = "***"
# Re-entrant: Apprise logs while a URL is being registered, and those lines are masked.
_lock = threading.RLock()
# secret -> what replaces it (MASK, or "***@host" for an address); compiled lazily.
_secrets: dict[str, str] = {}
_pattern: re.Pattern[str] | None = None
# user:password@ in URLs, and token-like query parameters.
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)[^/\s@]+@")
_SECRET_KEYS = (r"token|key|apikey|api_key|secret|password|passwd|pass|pw|access_token|"
                r"auth|sig|signature|client_secret|webhook|hook")
_TOKEN_PARAM = re.compile(rf"(?P<key>[?&](?:{_SECRET_KEYS})=)[^&\s\"']+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+%-]+@(?P<host>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_HAS_DIGIT = re.compile(r"\d")
_HAS_ALPHA = re.compile(r"[A-Za-z]")
# Dotted quads and host names stay readable even when they look like tokens.
_HOSTLIKE = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3}){3}|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)$")


def _token_like(part: str) -> bool:
    """A URL part that carries a secret: long and random-looking, not a word or a host.

    Webhook paths (``json://host/hooks/9f3a…``) and feed URLs hide their secret in a
    path segment; words (``notifier``, ``basic.ics``, ``court-alerts``) and host names
    must stay readable, so only long mixed letter+digit strings, or very long ones, count.
    """
    if len(part) < 8 or _HOSTLIKE.match(part) or "@" in part:  # addresses: see _EMAIL
        return False
    return bool(_HAS_DIGIT.search(part) and _HAS_ALPHA.search(part)) or len(part) >= 20


def _add(secret: str, replacement: str = MASK) -> None:
    global _pattern
    if len(secret) >= 6 and _secrets.get(secret) != replacement:
        _secrets[secret] = replacement
        _pattern = None


def _url_parts(url: str, *, keep_host: bool) -> None:
    """Register the secret parts of ``url``: password, token-like path segments and
    query values, secret-named query values, and addresses (``***@host``)."""
    parts = urlsplit(url)
    if parts.password:
        _add(unquote(parts.password))
        _add(parts.password)
    tail = parts.path + ("?" + parts.query if parts.query else "")
    if keep_host and len(tail.strip("/")) >= 6:
        _add(tail.lstrip("/"))
    for m in _EMAIL.finditer(unquote(tail)):
        _add(m.group(0), f"{MASK}@{m.group('host')}")
    for seg in re.split(r"[/,]", unquote(parts.path)):
        stem = seg.rsplit(".", 1)[0]  # "9f3a…c2.ics": the token is the stem
        for piece in {seg, stem}:
            if _token_like(piece):
                _add(piece)
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        if re.fullmatch(_SECRET_KEYS, key, re.IGNORECASE) or _token_like(value):
            _add(value)
    if not keep_host:
        # Apprise puts tokens where a host would be (slack://T000/B000/XXXX).
        host = parts.hostname or ""
        if _token_like(host) and not _HOSTLIKE.match(host):
            _add(host)


def _apprise_private(url: str) -> bool:
    """Register the tokens Apprise itself marks private for this URL's service;
    False when Apprise does not recognise the URL."""
    try:
        import apprise  # lazily: only processes with channels pay its import

        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    except Exception:  # an unusable URL: the generic rules above still apply
        return False
    if plugin is None:
        return False
    specs = {**plugin.template_tokens, **plugin.template_args}
    for key, spec in specs.items():
        if not isinstance(spec, dict) or not spec.get("private"):
            continue
        value = getattr(plugin, spec.get("map_to", key), None)
        values = value if isinstance(value, list | tuple | set) else [value]
        for v in values:
            if isinstance(v, str):
                _add(v)
    for attr in ("token", "apikey", "access_token", "password", "secret"):
        value = getattr(plugin, attr, None)
        if isinstance(value, str):
            _add(value)
    return True


def register_secret(value: str | None, *, keep_host: bool = False) -> None:
    """Mask the secret parts of this string in every log line from now on.

    A plain string (a header value, a feed token) is masked whole. For a URL only its
    secret parts are: its password, the tokens Apprise marks private
    (``slack://T000/B000/XXXX``), token-like path segments and query values, and
    subscriber addresses (shown as ``***@host``). Host names, IP addresses, user names
    and ordinary words stay readable; a URL Apprise does not recognise is masked whole.
    ``keep_host`` is for calendar source URLs, whose secrets sit in the path or query
    (the whole path is masked).
    """
    if not value or len(value) < 6:
        return
    with _lock:
        if "://" not in value:
            _add(value)
            return
        _url_parts(value, keep_host=keep_host)
        if not keep_host and not _apprise_private(value):
            _add(value)  # a service Apprise does not know: its secrets may be anywhere


def register_settings_secrets(settings: Settings) -> None:
    """Register every secret the configuration holds: channel URLs, source URLs/headers."""
    for ch in settings.channels:
        register_secret(ch.url.get_secret_value())
    for src in settings.sources:
        register_secret(src.url, keep_host=True)
        for key in ("token", "webhook_secret"):
            secret = getattr(src, key, None)
            if secret is not None:
                register_secret(secret.get_secret_value())
        for value in (getattr(src, "headers", None) or {}).values():
            words = str(value).split()
            if len(words) == 1:
                register_secret(words[0])
            for word in words[1:]:  # "Bearer <token>": the token, not the word "Bearer"
                register_secret(word)


def _compiled() -> tuple[re.Pattern[str] | None, dict[str, str]]:
    global _pattern
    with _lock:
        if _pattern is None and _secrets:
            alternatives = sorted(_secrets, key=len, reverse=True)
            # Boundaries keep a secret from eating into a longer word that contains it.
            _pattern = re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, alternatives))
                                  + r")(?![A-Za-z0-9])")
        return _pattern, _secrets


def mask(text: str) -> str:
    """Replace registered secrets, URL credentials and token parameters in ``text``."""
    pattern, secrets = _compiled()
    if pattern is not None:
        text = pattern.sub(lambda m: secrets.get(m.group(0), MASK), text)
    text = _URL_USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", text)
    return _TOKEN_PARAM.sub(lambda m: m.group("key") + MASK, text)


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw message
            message = str(record.msg)
        record.msg = mask(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("event", "case", "channel", "notification"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


def setup_logging(fmt: Literal["text", "json"] = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(MaskingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                                               "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn installs its own handlers; route its loggers through ours (masked).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
