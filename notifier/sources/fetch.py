"""Download one source politely: conditional GET, timeout, size cap, bounded redirects.

Call :func:`fetch_url`. It returns :class:`Fetched` (a body, or ``not_modified``
after a 304) or raises :class:`FetchError` with a message that names the source
and shows a URL only as scheme and host (:func:`~notifier.display.mask_url`: a
secret feed's path, userinfo and query string never appear). ``webcal://`` is fetched as
``https://``; ``file://`` URLs and plain paths are read from disk. Importing it
masks URLs in httpx's own request log lines the same way.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from .. import __version__
from ..display import mask_url, mask_urls
from ..errors import NotifierError

USER_AGENT = f"notifier/{__version__} (court-calendar notifier; httpx/{httpx.__version__})"


class _MaskUrls(logging.Filter):
    """Show URLs in httpx's own log lines ("HTTP Request: GET <url>") as scheme + host."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask_urls(record.getMessage()), None
        return True


_HTTPX_LOG = logging.getLogger("httpx")
if not any(isinstance(f, _MaskUrls) for f in _HTTPX_LOG.filters):
    _HTTPX_LOG.addFilter(_MaskUrls())


class FetchError(NotifierError):
    """A source could not be fetched. ``retry_after`` is the server's hint, if any."""

    def __init__(self, message: str, *, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Fetched:
    body: bytes | None  # None when not modified
    etag: str | None = None
    last_modified: str | None = None
    status: int = 200

    @property
    def not_modified(self) -> bool:
        return self.body is None


def normalize_url(url: str) -> str:
    """``webcal://`` -> ``https://`` (what calendar apps do); other URLs unchanged."""
    if url[:9].lower() == "webcal://":
        return "https://" + url[9:]
    return url


def local_path(url: str, base_dir: Path | None = None) -> Path | None:
    """The file a ``file://`` URL or a plain path names, or None for a network URL."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", url):
        if url[:7].lower() != "file://":
            return None
        path = Path(unquote(urlsplit(url).path))
    else:
        path = Path(url).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def _read_file(path: Path, name: str, max_bytes: int) -> Fetched:
    try:
        with path.open("rb") as f:
            body = f.read(max_bytes + 1)
            mtime = os.fstat(f.fileno()).st_mtime
    except OSError as e:
        raise FetchError(f"source {name!r}: cannot read {path}: {e.strerror or e}") from e
    if len(body) > max_bytes:
        raise FetchError(f"source {name!r}: {path} is larger than max_bytes ({max_bytes})")
    stamp = datetime.fromtimestamp(mtime, UTC).isoformat()
    return Fetched(body=body, last_modified=stamp)


def _retry_after(value: str | None) -> timedelta | None:
    if not value:
        return None
    if value.strip().isdigit():
        return timedelta(seconds=int(value.strip()))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - datetime.now(UTC), timedelta(0))


def fetch_url(url: str, *, name: str, etag: str | None = None,
              last_modified: str | None = None, timeout: float = 30.0,
              max_bytes: int = 10_000_000, max_redirects: int = 5,
              headers: dict[str, str] | None = None, base_dir: Path | None = None,
              transport: httpx.BaseTransport | None = None) -> Fetched:
    """Fetch ``url`` for source ``name``; see the module docstring."""
    path = local_path(url, base_dir)
    if path is not None:
        return _read_file(path, name, max_bytes)
    target = normalize_url(url)
    shown = mask_url(url)
    req_headers = {"User-Agent": USER_AGENT, "Accept": "text/calendar, text/csv, */*;q=0.5"}
    req_headers.update(headers or {})
    if etag:
        req_headers["If-None-Match"] = etag
    if last_modified:
        req_headers["If-Modified-Since"] = last_modified
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=max_redirects,
                          transport=transport) as client, \
                client.stream("GET", target, headers=req_headers) as resp:
            if resp.status_code == 304:
                return Fetched(body=None, etag=resp.headers.get("ETag") or etag,
                               last_modified=resp.headers.get("Last-Modified") or last_modified,
                               status=304)
            if resp.status_code >= 400:
                raise FetchError(
                    f"source {name!r}: {shown} answered HTTP {resp.status_code} "
                    f"{resp.reason_phrase}".rstrip(),
                    retry_after=_retry_after(resp.headers.get("Retry-After")))
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(f"source {name!r}: {shown} body is {declared} bytes, more "
                                 f"than max_bytes ({max_bytes})")
            chunks: list[bytes] = []
            size = 0
            # httpx's timeout is per read; a server dripping bytes must not hold us forever.
            deadline = time.monotonic() + timeout
            for chunk in resp.iter_bytes():
                if time.monotonic() > deadline:
                    raise FetchError(f"source {name!r}: {shown} timed out after {timeout:g}s "
                                     "(body still arriving)")
                size += len(chunk)
                if size > max_bytes:
                    # Stop reading: a runaway or hostile body must not fill memory.
                    raise FetchError(f"source {name!r}: {shown} body is larger than "
                                     f"max_bytes ({max_bytes}); download stopped")
                chunks.append(chunk)
            return Fetched(body=b"".join(chunks), etag=resp.headers.get("ETag"),
                           last_modified=resp.headers.get("Last-Modified"),
                           status=resp.status_code)
    except httpx.TimeoutException as e:
        raise FetchError(f"source {name!r}: {shown} timed out after {timeout:g}s "
                         f"({type(e).__name__})") from e
    except httpx.TooManyRedirects as e:
        raise FetchError(f"source {name!r}: {shown} redirected more than max_redirects "
                         f"({max_redirects}) times") from e
    except (httpx.HTTPError, httpx.InvalidURL) as e:
        detail = mask_urls(str(e)) or type(e).__name__
        raise FetchError(f"source {name!r}: cannot fetch {shown}: {detail}") from e
