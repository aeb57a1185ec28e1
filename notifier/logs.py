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

if TYPE_CHECKING:
    from .config import Settings

MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()
# user:password@ in URLs, and token-like query parameters.
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)[^/\s@]+@")
_TOKEN_PARAM = re.compile(r"(?P<key>[?&](?:token|key|apikey|api_key|secret|password|pass|"
                          r"access_token)=)[^&\s\"']+", re.IGNORECASE)


def register_secret(value: str | None, *, keep_host: bool = False) -> None:
    """Mask this exact string (and, for URLs, their parts) in every log line.

    Apprise URLs carry tokens anywhere (``slack://T000/B000/XXXX``), so every long
    part is masked. ``keep_host`` leaves the host readable (for calendar source
    URLs, whose secrets sit in the path or query).
    """
    if not value or len(value) < 6:
        return
    with _lock:
        if "://" not in value:
            _secrets.add(value)
            return
        rest = value.split("://", 1)[1]
        if keep_host:
            rest = rest.split("/", 1)[1] if "/" in rest else ""
            if len(rest) >= 6:
                _secrets.add(rest)
        else:
            _secrets.add(value)
        if rest:
            for part in re.split(r"[/?&=@:]", rest):
                if len(part) >= 8:
                    _secrets.add(part)


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
            register_secret(str(value))
            for word in str(value).split():  # "Bearer <token>"
                register_secret(word)


def mask(text: str) -> str:
    """Replace registered secrets, URL credentials and token parameters in ``text``."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
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
