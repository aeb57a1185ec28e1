"""Docket sources (CourtListener, PACER RSS): read entries, store them, fold them into events.

:func:`fetch_docket` is what :func:`notifier.sources.poll.fetch_source` calls for a
source whose ``format`` is a docket format. It reads what is new upstream outside
any transaction, then in one write transaction stores the entries (an entry edited
upstream replaces its text), folds *all* the source's stored entries into events
(:mod:`.docketfold`) and applies them like any other source's fetch
(:func:`.engine.apply_fetch`: missing counters, the mass-change hold, history and
alerts). Reading the same entries again therefore changes nothing.

Every change an entry caused carries its provenance: a :class:`DocketProvenance`
row and the summary's tail (``… (docket entry 12, filed 2027-02-01: “…”)``), so
the history, change alerts and feed descriptions quote the entry; the event's
notes quote the entry behind its current state (feed and case page). Uncertain
facts are stored for review (``notifier dockets review``) and joined to the fold
once accepted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import delete as sa_delete
from sqlalchemy import update as sa_update
from sqlmodel import Session, col, select

from ..config import SourceSettings
from ..dockets.extract import extract as default_extract
from ..errors import CalendarError, NotifierError
from ..specs import CalendarSpec, CaseSpec
from ..store import Store
from ..store.models import (
    Change,
    DocketEntry,
    DocketProvenance,
    DocketReview,
    DocketState,
    SourceState,
)
from ..tracking.sync import ChangeHook
from .courtlistener import DocketRead, read_docket
from .csvfile import event_uid
from .docketfold import Entry, Extractor, FoldResult, Provenance, fold
from .engine import HoldHook, apply_fetch, spec_digest
from .fetch import FetchError, fetch_url
from .pacerrss import RssCase, parse_rss
from .record import load_state, mark_success, record_failure
from .report import FetchReport

CT = Change.__table__  # type: ignore[attr-defined]

log = logging.getLogger(__name__)
DOCKET_REFRESH = timedelta(days=1)  # how often the docket's own data (case, judge) is re-read


def _url_digest(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:150] or "docket"


def _budget(st: DocketState, src: SourceSettings, now: datetime) -> int:
    """Requests still allowed this hour (the window starts with its first request)."""
    if st.hour_start is None or now - st.hour_start >= timedelta(hours=1):
        st.hour_start, st.hour_requests = now, 0
    return max(src.max_requests_per_hour - st.hour_requests, 0)


def _stored_entries(s: Session, source: str) -> list[DocketEntry]:
    return list(s.exec(select(DocketEntry).where(DocketEntry.source == source)).all())


def store_entries(s: Session, source: str, entries: list[Entry], now: datetime) -> int:
    """Insert new entries, replace edited ones; the number stored or replaced."""
    keys = list(dict.fromkeys(e.key for e in entries))
    have: dict[str, DocketEntry] = {}
    for i in range(0, len(keys), 500):  # bounded IN lists (SQLite's variable limit)
        have.update((r.entry_key, r) for r in s.exec(select(DocketEntry).where(
            DocketEntry.source == source, col(DocketEntry.entry_key).in_(keys[i:i + 500]))))
    n = 0
    for e in entries:
        row = have.get(e.key)
        if row is None:
            row = DocketEntry(source=source, entry_key=e.key, first_seen_at=now, updated_at=now,
                              text=e.text)
            have[e.key] = row
        elif (row.text, row.number, row.date_filed, row.link) == \
                (e.text, e.number, e.date_filed, e.link):
            continue
        row.text, row.number, row.date_filed, row.link = e.text, e.number, e.date_filed, e.link
        row.updated_at = now
        s.add(row)
        n += 1
    s.flush()
    return n


def _as_entry(row: DocketEntry) -> Entry:
    return Entry(key=row.entry_key, number=row.number, date_filed=row.date_filed,
                 text=row.text, link=row.link)


def _decisions(s: Session, source: str) -> dict[tuple[str, str], str]:
    rows = s.exec(select(DocketReview).where(DocketReview.source == source)).all()
    return {(r.entry_key, r.fact_key): r.status for r in rows if r.status != "pending"}


def _queue_review(s: Session, source: str, result: FoldResult, now: datetime) -> int:
    """Store the fold's undecided uncertain facts; drop pending ones it no longer reads
    (their entry was edited upstream)."""
    rows = s.exec(select(DocketReview).where(DocketReview.source == source)).all()
    current = {(p.entry.key, p.fact_key) for p in result.review}
    for r in rows:
        if r.status == "pending" and (r.entry_key, r.fact_key) not in current:
            s.delete(r)
    have = {(r.entry_key, r.fact_key) for r in rows}
    n = 0
    for p in result.review:
        key = (p.entry.key, p.fact_key)
        if key in have:
            continue
        have.add(key)
        s.add(DocketReview(source=source, entry_key=p.entry.key, fact_key=p.fact_key,
                           fact=json.dumps(p.fact.as_json(), sort_keys=True), created_at=now))
        n += 1
    return n


def _cases(src: SourceSettings, st: DocketState,
           stored: list[DocketEntry]) -> list[tuple[CaseSpec, list[Entry], str | None]]:
    """(case, its entries, event url) for each case the source's entries belong to."""
    entries = [_as_entry(r) for r in stored]
    if src.format == "courtlistener":
        meta = json.loads(st.docket or "{}")
        number = meta.get("docket_number") or src.docket_id or ""
        case_id = src.case or _slug(f"{meta.get('court') or 'cl'}-{number}")
        title = meta.get("case_name") or f"Docket {number}"
        court = (meta.get("court") or "").upper() or None
        case = CaseSpec(id=case_id, title=title, timezone=src.timezone, court=court,
                        judge=meta.get("judge"), url=meta.get("url"))
        return [(case, entries, meta.get("url"))]
    by_number: dict[str, list[Entry]] = {}
    titles = json.loads(st.docket or "{}").get("titles") or {}
    for e, row in zip(entries, stored, strict=True):
        by_number.setdefault(row.entry_key.split("\x1f", 1)[0], []).append(e)
    out: list[tuple[CaseSpec, list[Entry], str | None]] = []
    for number in src.case_numbers:
        case_id = src.case or _slug(number)
        title = titles.get(number) or f"Case {number}"
        out.append((CaseSpec(id=case_id, title=title, timezone=src.timezone),
                    by_number.get(number, []), None))
    return out


def fold_source(s: Session, src: SourceSettings, st: DocketState,
                extract: Extractor) -> tuple[CalendarSpec, FoldResult]:
    """The source's stored entries folded into one CalendarSpec (and the fold's details)."""
    stored = _stored_entries(s, src.name)
    decisions = _decisions(s, src.name)
    spec = CalendarSpec(source=src.key, cases=[], events=[], defines_cases=False)
    total = FoldResult()
    tz = ZoneInfo(src.timezone)
    for case, entries, url in _cases(src, st, stored):
        result = fold(src.name, case.id, tz, entries, extract, decisions,
                      lambda c, e: event_uid(c, e, src.name), url=url, judge=case.judge)
        spec.cases.append(case)
        spec.events += result.events
        total.events += result.events
        total.provenance.update(result.provenance)
        total.review += result.review
        total.unmatched += result.unmatched
    if len(spec.events) > src.max_events:
        raise CalendarError(src.key, [f"{src.key}: its entries make {len(spec.events)} events, "
                                      f"more than max_events ({src.max_events}); nothing was "
                                      "applied"])
    for p in total.unmatched:
        log.debug("source %r: entry %s: %s %s matches no open event; left out", src.name,
                  p.entry.number or p.entry.key, p.fact.action, p.fact.kind)
    return spec, total


def provenance_hook(hook: ChangeHook | None, src: SourceSettings,
                    provenance: dict[str, Provenance], dropped: set[int]) -> ChangeHook:
    """``hook`` preceded by writing the provenance of each change a fact caused.

    A change of an event's notes alone is dropped: the notes are the provenance
    itself, which moves with every fact (the fact's own change says so).
    """

    def run(s: Session, changes: list[Change], now: datetime) -> None:
        keep = []
        for c in changes:
            # The sync hands over detached rows (written in bulk): change the table
            # with statements, and the hook's copies by building new ones.
            if c.kind == "details_changed" and c.field == "notes":
                dropped.add(id(c))
                s.execute(sa_delete(CT).where(CT.c.id == c.id))
                continue
            p = provenance.get(c.event_uid)
            # Only what facts decide (the event, its date and status) is quoted: a
            # judge or page URL changed on the docket itself is not the entry's doing.
            caused = c.field in ("event", "when", "status") and c.kind != "removed"
            if p is not None and caused and c.id is not None:
                summary = f"{c.summary} ({p.text()})"
                s.execute(sa_update(CT).where(CT.c.id == c.id).values(summary=summary))
                # Not c.summary = ...: the row is detached, and the report shows c too.
                c.__dict__["summary"] = summary
                s.add(DocketProvenance(change_id=c.id, source=src.name, entry_key=p.entry_key,
                                       number=p.number, link=p.link, date_filed=p.date_filed,
                                       quote=p.quote))
            keep.append(c)
        s.flush()
        if hook is not None and keep:
            hook(s, keep, now)

    return run


def _read(src: SourceSettings, st: DocketState, sst: SourceState, now: datetime,
          transport: httpx.BaseTransport | None, base_dir: Path | None
          ) -> tuple[list[Entry], list[RssCase] | None, DocketRead | None, object]:
    if src.format == "courtlistener":
        meta = json.loads(st.docket or "{}")
        read = DocketRead(cursor=st.cursor, slug=meta.get("slug") or "")
        fetched = meta.get("fetched_at")
        stale = not fetched or now - datetime.fromisoformat(fetched) >= DOCKET_REFRESH
        try:
            read_docket(src, read, _budget(st, src, now), with_docket=stale,
                        transport=transport)
        finally:
            st.hour_requests += read.requests
        if read.docket is not None:
            st.docket = json.dumps({**read.docket, "fetched_at": now.isoformat()})
        return read.entries, None, read, None
    # Validators only for the URL they came from (the config may have changed it).
    same = sst.url_digest == _url_digest(src.url)
    got = fetch_url(src.url, name=src.name, etag=sst.etag if same else None,
                    last_modified=sst.last_modified if same else None,
                    timeout=src.timeout.total_seconds(), max_bytes=src.max_bytes,
                    max_redirects=src.max_redirects, headers=dict(src.headers),
                    base_dir=base_dir, transport=transport)
    if got.body is None:
        return [], [], None, got
    cases = parse_rss(got.body, src)
    # The case number leads the key, so entries are grouped by case when folded.
    entries = [Entry(key=f"{c.number}\x1f{e.key}"[:500], number=e.number,
                     date_filed=e.date_filed, text=e.text, link=e.link)
               for c in cases for e in c.entries]
    return entries, cases, None, got


def _settled(srow: SourceState, now: datetime) -> bool:
    """Whether a poll that stored nothing new may skip the fold (see fetch_docket)."""
    last = srow.last_success_at
    return (last is not None and last.astimezone(UTC).date() == now.astimezone(UTC).date()
            and srow.held_at is None and srow.missing in ("", "{}")
            and srow.last_status in ("ok", "not_modified"))


def _after_budget(srow: SourceState, read: DocketRead | None, drow: DocketState,
                  now: datetime) -> None:
    if read is not None and not read.complete:
        # The hourly budget ran out mid-docket: carry on when it renews.
        srow.next_fetch_at = max(srow.next_fetch_at or now,
                                 (drow.hour_start or now) + timedelta(hours=1))


def _save_budget(store: Store, st: DocketState) -> None:
    with store.write() as s:
        row = s.get(DocketState, st.source) or DocketState(source=st.source)
        row.hour_start, row.hour_requests = st.hour_start, st.hour_requests
        s.add(row)


def fetch_docket(store: Store, src: SourceSettings, now: datetime, *,
                 hook: ChangeHook | None, on_hold: HoldHook | None = None,
                 live: Callable[[str], bool] | None = None, base_dir: Path | None = None,
                 extract: Extractor | None = None,
                 transport: httpx.BaseTransport | None = None) -> FetchReport:
    """Read a docket source now and apply (or hold) what its entries change.

    ``extract`` defaults to :func:`notifier.dockets.extract.extract`; ``transport``
    is for tests. Failures are recorded like any source's and leave events as they were.
    """
    extract = extract or default_extract
    sst = load_state(store, src.name)
    with store.read() as s:
        st = s.get(DocketState, src.name) or DocketState(source=src.name)
    if src.format == "courtlistener" and _budget(st, src, now) == 0:
        resume = (st.hour_start or now) + timedelta(hours=1)
        with store.write() as s:
            row = s.get(SourceState, src.name) or SourceState(name=src.name)
            row.next_fetch_at = max(resume, now + src.interval)
            row.last_fetch_at = now
            s.add(row)
        log.warning("source %r: hourly request budget (%d) spent; next read %s", src.name,
                    src.max_requests_per_hour, resume.isoformat())
        return FetchReport(source=src.name, status="not_modified", next_fetch_at=resume)
    try:
        entries, rss, read, got = _read(src, st, sst, now, transport, base_dir)
    except FetchError as e:
        _save_budget(store, st)
        return record_failure(store, src, now, str(e), e.retry_after)
    except CalendarError as e:
        return record_failure(store, src, now, f"source {src.name!r}: " + "; ".join(
            p.removeprefix(f"{src.key}: ") for p in e.problems))
    dropped: set[int] = set()
    try:
        with store.write() as s:
            store.serialize_sync(s)
            drow = s.get(DocketState, src.name) or DocketState(source=src.name)
            drow.cursor = read.cursor if read is not None else drow.cursor
            drow.docket = st.docket
            if rss:
                # Case names come with the items; kept for fetches that bring none.
                titles = json.loads(drow.docket or "{}").get("titles") or {}
                titles.update({c.number: c.title for c in rss})
                drow.docket = json.dumps({"titles": titles}, sort_keys=True)
            drow.hour_start, drow.hour_requests = st.hour_start, st.hour_requests
            s.add(drow)
            stored = store_entries(s, src.name, entries, now)
            srow = s.get(SourceState, src.name) or SourceState(name=src.name)
            refreshed = read is not None and read.docket is not None  # case, judge re-read
            if not stored and not refreshed and _settled(srow, now):
                # Nothing new, nothing waiting on a further poll: the fold would be
                # the same (it is done again once a day all the same, so a newer
                # extractor's reading reaches the events).
                mark_success(srow, src, now, "not_modified", got)
                _after_budget(srow, read, drow, now)
                s.add(srow)
                return FetchReport(source=src.name, status="not_modified",
                                   next_fetch_at=srow.next_fetch_at)
            spec, result = fold_source(s, src, drow, extract)
            queued = _queue_review(s, src.name, result, now)
            # A held fold is applied when the next poll folds to the same events.
            confirmed = srow.held_at is not None and srow.held_digest == spec_digest(spec)
            out = apply_fetch(s, srow, spec, src, now, confirmed=confirmed,
                              live=live or (lambda _k: True),
                              hook=provenance_hook(hook, src, result.provenance, dropped),
                              on_hold=on_hold)
            mark_success(srow, src, now, "held" if out.held else "ok", got)
            srow.url_digest = _url_digest(src.url)
            _after_budget(srow, read, drow, now)
            s.add(srow)
    except CalendarError as e:
        return record_failure(store, src, now, f"source {src.name!r}: " + "; ".join(
            p.removeprefix(f"{src.key}: ") for p in e.problems))
    if queued:
        log.info("source %r: %d uncertain fact(s) wait for review (notifier dockets review %s)",
                 src.name, queued, src.name)
    return FetchReport(source=src.name, status="held" if out.held else "ok",
                       changes=[c for c in out.changes if id(c) not in dropped],
                       held=out.held_lines, parsed=True,
                       pending_missing=out.pending_missing, next_fetch_at=srow.next_fetch_at)


def accept_docket(store: Store, src: SourceSettings, now: datetime, *, hook: ChangeHook | None,
                  live: Callable[[str], bool] | None = None,
                  extract: Extractor | None = None) -> FetchReport:
    """Apply a docket source's held changes (``notifier sources accept NAME``), confirmed."""
    dropped: set[int] = set()
    with store.write() as s:
        store.serialize_sync(s)
        srow = s.get(SourceState, src.name)
        if srow is None or srow.held_at is None:
            raise NotifierError(f"source {src.name!r} has no held changes")
        row = s.get(DocketState, src.name) or DocketState(source=src.name)
        spec, result = fold_source(s, src, row, extract or default_extract)
        out = apply_fetch(s, srow, spec, src, now, bump=False, confirmed=True,
                          live=live or (lambda _k: True),
                          hook=provenance_hook(hook, src, result.provenance, dropped))
        srow.last_status = "ok"
        s.add(srow)
    return FetchReport(source=src.name, status="ok",
                       changes=[c for c in out.changes if id(c) not in dropped], parsed=True,
                       pending_missing=out.pending_missing, next_fetch_at=srow.next_fetch_at)


def refold(store: Store, src: SourceSettings, now: datetime, *, hook: ChangeHook | None,
           live: Callable[[str], bool] | None = None,
           extract: Extractor | None = None) -> FetchReport:
    """Fold the stored entries again and apply them (after a review decision); no network."""
    dropped: set[int] = set()
    with store.write() as s:
        store.serialize_sync(s)
        srow = s.get(SourceState, src.name) or SourceState(name=src.name)
        row = s.get(DocketState, src.name) or DocketState(source=src.name)
        spec, result = fold_source(s, src, row, extract or default_extract)
        _queue_review(s, src.name, result, now)
        out = apply_fetch(s, srow, spec, src, now, bump=False,
                          live=live or (lambda _k: True),
                          hook=provenance_hook(hook, src, result.provenance, dropped))
        s.add(srow)
    return FetchReport(source=src.name, status="held" if out.held else "ok",
                       changes=[c for c in out.changes if id(c) not in dropped],
                       held=out.held_lines, parsed=True, pending_missing=out.pending_missing,
                       next_fetch_at=srow.next_fetch_at)
