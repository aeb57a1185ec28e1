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
from bisect import bisect_left
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

if TYPE_CHECKING:
    from .config import Settings

MASK = "***"
# Re-entrant: Apprise logs while a URL is being registered, and those lines are masked.
_lock = threading.RLock()
# secret -> what replaces it (MASK, or "***@host" for an address); compiled lazily.
_secrets: dict[str, str] = {}
_pattern: re.Pattern[str] | None = None
# Every pattern that runs over log text is linear in its length (a 100 kB request line
# is logged inside the HTTP server's event loop): each starts at a fixed literal or at
# the start of a run, and no quantifier can retry the same characters from many places.
# user:password@ in URLs: from each "://" to the "@" (a scheme is not required).
_URL_USERINFO = re.compile(r"://[^/\s@]+@")
_SECRET_KEYS = (r"token|key|apikey|api_key|secret|password|passwd|pass|pw|access_token|"
                r"auth|sig|signature|client_secret|webhook|hook")
_SECRET_NAME = re.compile(rf"(?:{_SECRET_KEYS})", re.IGNORECASE)
# A query parameter's name (in the percent-decoded text) and where a raw value ends.
_PARAM = re.compile(r"[?&]([^=&?#\s\"']{1,64})=")
_VALUE_END = re.compile(r"[&\s\"']")
_SEGMENT_END = re.compile(r"[/?#\s\"']")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
# The lookbehind starts a match only where a run of address characters starts.
_EMAIL = re.compile(r"(?<![\w.+%-])[\w.+%-]+@(?P<host>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
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
        if _SECRET_NAME.fullmatch(key) or _token_like(value):
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
    text = _URL_USERINFO.sub("://" + MASK + "@", text)
    return redact_request(text, _SECRET_NAME, None, MASK)


def _decoded(text: str) -> tuple[str, list[int]]:
    """``text`` with each ``%XX`` decoded to one character, and where the decoded
    characters sit in it (indexes into the decoded text, ascending)."""
    if "%" not in text:
        return text, []
    where: list[int] = []

    def one(m: re.Match[str]) -> str:
        where.append(m.start() - 2 * len(where))
        return chr(int(m.group(1), 16))
    return _PERCENT.sub(one, text), where


def redact_request(text: str, names: re.Pattern[str], segments: re.Pattern[str] | None,
                   replacement: str) -> str:
    """``text`` with the value of every query parameter whose name ``names`` matches
    whole, and the path segment after every match of ``segments``, replaced.

    Both are matched as the web server decodes them, percent-encoded or not
    (``?%74oken=``, ``/follow/%63alendar/``, a name in any case); a name with ``+`` or
    spaces is decoded as Starlette does. What is replaced is cut from the raw text up
    to the next raw separator, so an encoded ``&`` or ``/`` cannot end it early.
    Linear in the length of ``text``.
    """
    plain, where = _decoded(text)

    def raw(i: int) -> int:  # an index into ``plain`` as one into ``text``
        return i + 2 * bisect_left(where, i)

    spans: list[tuple[int, int]] = []

    def cut(found: Iterator[re.Match[str]], stop: re.Pattern[str]) -> None:
        reach = -1  # a start before it lies in the last part cut, which ends where it does
        for m in found:
            start = raw(m.end())
            if start < reach:
                continue
            end = stop.search(text, start)
            reach = end.start() if end else len(text)
            spans.append((start, reach))

    cut((m for m in _PARAM.finditer(plain) if names.fullmatch(unquote_plus(m.group(1)))),
        _VALUE_END)
    if segments is not None:
        cut(segments.finditer(plain), _SEGMENT_END)
    if not spans:
        return text
    out: list[str] = []
    done = 0
    for start, end in sorted(spans):
        if end <= max(start, done):
            continue  # empty, or inside a part already replaced
        if start >= done:
            out += [text[done:start], replacement]
        done = end  # overlapping the last replaced part: that one grows
    out.append(text[done:])
    return "".join(out)


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
