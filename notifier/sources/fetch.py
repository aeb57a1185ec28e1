"""Download one source politely: conditional GET, timeout, size cap, bounded redirects.

Call :func:`fetch_url`. It returns :class:`Fetched` (a body, or ``not_modified``
after a 304) or raises :class:`FetchError` with a message that names the source
and shows a URL only as scheme and host (:func:`~notifier.display.mask_url`: a
secret feed's path, userinfo and query string never appear), and an HTTP error as
its status code and standard reason only (never the server's words or body).
Redirects are followed hop by hop: custom headers and credentials go only to the
configured origin, and a hop to a loopback, private, link-local or reserved address
is refused unless the configured URL is on one itself. ``webcal://`` is fetched as
``https://``; ``file://`` URLs and plain paths are read from disk. Importing it
masks URLs in httpx's own request log lines the same way.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
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


def _is_internal(address: str) -> bool:
    """Whether an IP address is not on the public internet (loopback, private, ...)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast or ip.is_reserved


def resolve_host(host: str) -> list[str]:
    """The addresses ``host`` resolves to (an IP literal is its own); [] if it does not."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or {"http": 80, "https": 443}.get(url.scheme)


def _status_text(code: int) -> str:
    """The standard reason for ``code``: never the server's own words (they may quote
    whatever it serves, and this text reaches ``notifier sources`` and /healthz)."""
    try:
        return f"HTTP {code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def fetch_url(url: str, *, name: str, etag: str | None = None,
              last_modified: str | None = None, timeout: float = 30.0,
              max_bytes: int = 10_000_000, max_redirects: int = 5,
              headers: dict[str, str] | None = None, base_dir: Path | None = None,
              transport: httpx.BaseTransport | None = None,
              resolve: Callable[[str], list[str]] = resolve_host) -> Fetched:
    """Fetch ``url`` for source ``name``; see the module docstring.

    Redirects are followed here, hop by hop: ``headers`` and the URL's user:password
    go only to the configured origin (scheme, host, port), and a hop to an address
    that is not public (``resolve`` gives a host's addresses) is refused unless the
    configured URL's own host is such an address (an intranet court server).
    """
    path = local_path(url, base_dir)
    if path is not None:
        return _read_file(path, name, max_bytes)
    target = normalize_url(url)
    shown = mask_url(url)
    base_headers = {"User-Agent": USER_AGENT, "Accept": "text/calendar, text/csv, */*;q=0.5"}
    if etag:
        base_headers["If-None-Match"] = etag
    if last_modified:
        base_headers["If-Modified-Since"] = last_modified
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, transport=transport) as client:
            first = httpx.URL(target)
            home = _origin(first)
            internal_ok = any(_is_internal(a) for a in resolve(first.host))
            auth = (first.username, first.password) if first.username or first.password \
                else None
            hop = first
            for _ in range(max_redirects + 1):
                same = _origin(hop) == home
                req_headers = {**base_headers, **(headers or {})} if same else base_headers
                req = client.build_request("GET", hop.copy_with(userinfo=b""),
                                           headers=req_headers)
                resp = client.send(req, stream=True,
                                   auth=httpx.BasicAuth(*auth) if same and auth else None)
                try:
                    if resp.has_redirect_location:
                        hop = _next_hop(resp, name, shown, internal_ok, resolve)
                        continue
                    return _read_body(resp, name=name, shown=shown, etag=etag,
                                      last_modified=last_modified, timeout=timeout,
                                      max_bytes=max_bytes)
                finally:
                    resp.close()
            raise FetchError(f"source {name!r}: {shown} redirected more than max_redirects "
                             f"({max_redirects}) times")
    except httpx.TimeoutException as e:
        raise FetchError(f"source {name!r}: {shown} timed out after {timeout:g}s "
                         f"({type(e).__name__})") from e
    except (httpx.HTTPError, httpx.InvalidURL) as e:
        detail = mask_urls(str(e)) or type(e).__name__
        raise FetchError(f"source {name!r}: cannot fetch {shown}: {detail}") from e


def _next_hop(resp: httpx.Response, name: str, shown: str, internal_ok: bool,
              resolve: Callable[[str], list[str]]) -> httpx.URL:
    """Where a redirect leads, if it may be followed (else FetchError)."""
    try:
        nxt = resp.url.join(resp.headers["Location"])
    except (httpx.InvalidURL, ValueError) as e:
        raise FetchError(f"source {name!r}: {shown} redirected to an invalid URL") from e
    if nxt.scheme not in ("http", "https"):
        raise FetchError(f"source {name!r}: {shown} redirected to a {nxt.scheme or 'relative'}"
                         ": URL; only http and https are followed")
    if not internal_ok and any(_is_internal(a) for a in resolve(nxt.host)):
        # A public feed pointing at the intranet (or the cloud metadata address) is
        # an attack on this machine's network, not a calendar.
        raise FetchError(f"source {name!r}: {shown} redirected to {mask_url(str(nxt))}, a "
                         "loopback, private or reserved address; refused (only a source "
                         "configured on such an address may redirect to one)")
    return nxt


def _read_body(resp: httpx.Response, *, name: str, shown: str, etag: str | None,
               last_modified: str | None, timeout: float, max_bytes: int) -> Fetched:
    if resp.status_code == 304:
        return Fetched(body=None, etag=resp.headers.get("ETag") or etag,
                       last_modified=resp.headers.get("Last-Modified") or last_modified,
                       status=304)
    if resp.status_code >= 300:  # 3xx here: a redirect without a usable Location
        raise FetchError(f"source {name!r}: {shown} answered {_status_text(resp.status_code)}",
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
