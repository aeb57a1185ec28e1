"""Read one docket from the CourtListener REST API v4: the docket and its new entries.

Call :func:`read_docket` with the source's settings, the cursor of the last read
(the newest ``date_modified`` seen) and how many requests this hour still allows.
It asks ``dockets/{id}/`` for the case (when ``with_docket``) and
``docket-entries/?docket={id}&date_modified__gte=...&order_by=date_modified``,
following the ``next`` cursor links, and returns what it read. Entries come
oldest-modified first, so a read cut short by the hourly budget still advances
the cursor safely; an entry edited upstream comes back with a newer
``date_modified`` and replaces the stored one.

Errors are :class:`~notifier.sources.fetch.FetchError`: 401 says the token was refused
and 403 that it may not read the endpoint (never showing it), 429 and 503 carry
``Retry-After``, other HTTP errors are shown as status and standard reason only.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..config import SourceSettings
from ..display import mask_url
from .docketfold import Entry
from .fetch import USER_AGENT, FetchError, _retry_after, _status_text


@dataclass
class DocketRead:
    """What one poll of a CourtListener docket read."""

    entries: list[Entry] = field(default_factory=list)
    cursor: str | None = None  # newest date_modified among the entries read
    docket: dict[str, Any] | None = None  # case name, court, judge, number, page URL
    requests: int = 0
    complete: bool = True  # False when the hourly budget ran out before the last page
    slug: str = ""  # the docket's URL slug (entry links), from an earlier read if not re-read


def _site(api: str) -> str:
    parts = urlsplit(api)
    return f"{parts.scheme}://{parts.netloc}"


def _entry_text(raw: dict[str, Any]) -> str:
    text = (raw.get("description") or "").strip()
    if text:
        return text
    # RECAP entries scraped from RSS or attachment pages often hold only the
    # document's short description.
    for doc in raw.get("recap_documents") or []:
        short = (doc.get("description") or "").strip()
        if short:
            return short
    return ""


def _date(text: Any) -> date | None:
    try:
        return date.fromisoformat(str(text)[:10]) if text else None
    except ValueError:
        return None


class _Client:
    def __init__(self, src: SourceSettings, budget: int,
                 transport: httpx.BaseTransport | None) -> None:
        self.src = src
        self.budget = budget
        self.requests = 0
        self.shown = mask_url(src.url)
        token = src.token.get_secret_value() if src.token else ""
        self.http = httpx.Client(
            timeout=src.timeout.total_seconds(), follow_redirects=False, transport=transport,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json",
                     "Authorization": f"Token {token}"})

    def get(self, url: str) -> dict[str, Any]:
        name = self.src.name
        if urlsplit(url).netloc != urlsplit(self.src.url).netloc:
            # A pagination link elsewhere would carry the token off: refuse it.
            raise FetchError(f"source {name!r}: {self.shown} sent a page link to another host "
                             f"({mask_url(url)}); refused")
        self.requests += 1
        try:
            with self.http.stream("GET", url) as resp:
                if resp.status_code == 401:
                    raise FetchError(
                        f"source {name!r}: CourtListener refused the token "
                        f"({_status_text(resp.status_code)}): check the source's token "
                        "(e.g. COURTLISTENER_TOKEN) in your CourtListener profile, API tab")
                if resp.status_code == 403:
                    # A valid token without the grant: CourtListener opens its docket
                    # entries API to accounts on request.
                    raise FetchError(
                        f"source {name!r}: CourtListener denied access "
                        f"({_status_text(resp.status_code)}) to {urlsplit(url).path}: this "
                        "token may not read it (CourtListener grants its docket entries API "
                        "on request) or is not the right one")
                if resp.status_code == 404:
                    raise FetchError(f"source {name!r}: {self.shown}: docket "
                                     f"{self.src.docket_id} not found (HTTP 404 Not Found)")
                if resp.status_code != 200:
                    raise FetchError(f"source {name!r}: {self.shown} answered "
                                     f"{_status_text(resp.status_code)}",
                                     retry_after=_retry_after(resp.headers.get("Retry-After")))
                body = self._read(resp)
        except httpx.TimeoutException as e:
            raise FetchError(f"source {name!r}: {self.shown} timed out after "
                             f"{self.src.timeout.total_seconds():g}s") from e
        except httpx.HTTPError as e:
            raise FetchError(f"source {name!r}: cannot fetch {self.shown}: "
                             f"{type(e).__name__}") from e
        try:
            data = json.loads(body)
        except json.JSONDecodeError as e:
            raise FetchError(f"source {name!r}: {self.shown} sent a reply that is not "
                             f"JSON ({e.msg} at line {e.lineno})") from e
        except ValueError as e:  # not UTF-8
            raise FetchError(f"source {name!r}: {self.shown} sent a reply that is not "
                             "JSON text") from e
        if not isinstance(data, dict):
            raise FetchError(f"source {name!r}: {self.shown} sent JSON that is not an object")
        return data

    def _read(self, resp: httpx.Response) -> bytes:
        chunks, size = [], 0
        deadline = time.monotonic() + self.src.timeout.total_seconds()
        for chunk in resp.iter_bytes():
            size += len(chunk)
            if size > self.src.max_bytes:
                raise FetchError(f"source {self.src.name!r}: {self.shown} reply is larger "
                                 f"than max_bytes ({self.src.max_bytes}); download stopped")
            if time.monotonic() > deadline:
                raise FetchError(f"source {self.src.name!r}: {self.shown} timed out (reply "
                                 "still arriving)")
            chunks.append(chunk)
        return b"".join(chunks)


def _stamp(text: str) -> datetime | None:
    try:
        d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo is not None else d.replace(tzinfo=UTC)


def read_docket(src: SourceSettings, out: DocketRead, budget: int, *,
                with_docket: bool, transport: httpx.BaseTransport | None = None) -> None:
    """Read into ``out`` the docket's entries modified since ``out.cursor`` (all when None).

    At most ``budget`` requests are made (``out.requests`` counts them, also when
    this raises FetchError: see the module docstring). The token goes only to the
    configured API host.
    """
    api = src.url if src.url.endswith("/") else src.url + "/"
    site = _site(api)
    docket_id = src.docket_id
    cursor = out.cursor
    newest = _stamp(cursor) if cursor else None
    client = _Client(src, budget, transport)
    try:
        if with_docket:
            if client.requests >= budget:
                out.complete = False
                return
            d = client.get(f"{api}dockets/{docket_id}/")
            out.docket = {
                "case_name": d.get("case_name") or d.get("case_name_short") or "",
                "court": d.get("court_id") or "",
                "judge": d.get("assigned_to_str") or None,
                "docket_number": d.get("docket_number") or "",
                "url": f"{site}{d['absolute_url']}" if d.get("absolute_url") else None,
                "slug": d.get("slug") or "",
            }
        slug = (out.docket or {}).get("slug") or out.slug
        params = {"docket": docket_id, "order_by": "date_modified"}
        if cursor:
            params["date_modified__gte"] = cursor
        url: str | None = str(httpx.URL(f"{api}docket-entries/", params=params))
        while url:
            if client.requests >= budget:
                out.complete = False
                break
            page = client.get(url)
            for raw in page.get("results") or []:
                if not isinstance(raw, dict) or raw.get("id") is None:
                    continue
                number = raw.get("entry_number")
                num = str(number) if number is not None else None
                link = f"{site}/docket/{docket_id}/{num}/{slug + '/' if slug else ''}" \
                    if num else None
                out.entries.append(Entry(key=str(raw["id"]), number=num,
                                         date_filed=_date(raw.get("date_filed")),
                                         text=_entry_text(raw), link=link))
                modified = raw.get("date_modified")
                stamp = _stamp(modified) if isinstance(modified, str) else None
                if stamp is not None and (newest is None or stamp > newest):
                    # Compared as instants: CourtListener writes Pacific time, whose
                    # offset changes with daylight saving.
                    newest, out.cursor = stamp, modified
            nxt = page.get("next")
            url = nxt if isinstance(nxt, str) and nxt else None
    finally:
        out.requests = client.requests
        client.http.close()
