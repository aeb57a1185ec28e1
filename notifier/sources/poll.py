"""Poll remote sources: what the daemon's scheduler and ``notifier sources`` call.

Call :func:`poll_due_sources` on a timer (every minute is fine: it fetches only
the sources whose ``next_fetch_at`` has come), :func:`fetch_source` to fetch one
now, and :func:`accept_held` when an operator accepts held changes. The network
fetch happens outside any transaction; parsing and applying happen in one write
transaction together with the state update and the ``hook`` (the outbox), so
alerts commit atomically with the changes they describe. An unchanged body (a
304, or the same bytes) is not parsed again, except by the first fetch of each
UTC day for iCal sources (:func:`window_moved`: recurring events' window).

A failed fetch (network, HTTP error, oversized or malformed body, conflicting
UIDs) never touches the source's stored events: it is recorded in its state
with the error message and retried with exponential backoff.
"""

from __future__ import annotations

import hashlib
import logging
import traceback
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from ..calendars.icsfile import parse_ics
from ..calendars.recurrence import ExpandLimits
from ..config import Settings, SourceSettings
from ..display import mask_url, mask_urls
from ..errors import CalendarError, NotifierError
from ..specs import CalendarSpec, is_remote_source
from ..store import Store
from ..store.models import SourceState
from ..timeutil import utcnow
from ..tracking.sync import ChangeHook
from .csvfile import parse_csv
from .docketfold import Extractor
from .dockets import accept_docket, fetch_docket
from .engine import HoldHook, apply_fetch, spec_digest
from .fetch import FetchError, fetch_url
from .record import backoff as backoff
from .record import load_state, mark_success, record_failure
from .report import FetchReport

log = logging.getLogger(__name__)


def parse_body(raw: bytes, src: SourceSettings, now: datetime) -> CalendarSpec:
    """Bytes of a source -> CalendarSpec (raises CalendarError naming the source)."""
    if src.format == "csv":
        rows = parse_csv(raw, src)
        if len(rows.events) > src.max_events:
            raise CalendarError(src.key, [f"{src.key}: {len(rows.events)} events, more than "
                                          f"max_events ({src.max_events}); nothing was "
                                          "applied"])
        return rows
    spec = parse_ics(raw, src.key, default_case_id=src.name, case_id=src.case,
                     timezone=src.timezone,
                     expand=(now - src.expand_past, now + src.expand_future),
                     limits=ExpandLimits(max_occurrences=src.max_occurrences,
                                         max_events=src.max_events))
    spec.defines_cases = False
    return spec


_warned_unkeyed: set[str] = set()


def warn_if_unkeyed(src: SourceSettings) -> bool:
    """Log once per process that a CSV source maps neither ``id`` nor ``key``.

    Its rows are then identified by case number + kind; rows sharing those are
    told apart by date (see :mod:`.matching`), which is a guess. Returns whether
    it warned now.
    """
    m = src.csv
    if m is None or m.id or m.key is not None or src.name in _warned_unkeyed:
        return False
    _warned_unkeyed.add(src.name)
    log.warning("source %r: [sources.csv] maps neither id nor key, so hearings are "
                "identified by %s; several with the same values in one case are told apart "
                "by date (matched to the stored ones nearest in time). Map an upstream id "
                "column if the export has one.", src.name,
                " + ".join(m.key_fields()) or "their kind")
    return True


def window_moved(src: SourceSettings, state: SourceState, now: datetime) -> bool:
    """Whether an iCal source is re-parsed even if its body is unchanged.

    Its recurring events are expanded within a window around ``now``, which moves
    with time: a static weekly series must still gain its new occurrences. So the
    first successful fetch of each UTC day re-parses (at least once a day while
    the source is polled; at once after a longer pause).
    """
    if src.format != "ics":
        return False
    last = state.last_success_at
    return last is None or last.astimezone(UTC).date() != now.astimezone(UTC).date()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fetch_source(store: Store, src: SourceSettings, now: datetime | None = None, *,
                 hook: ChangeHook | None, on_hold: HoldHook | None = None,
                 force: bool = False, live: Callable[[str], bool] | None = None,
                 base_dir: Path | None = None, extract: Extractor | None = None) -> FetchReport:
    """Fetch one source now and apply (or hold) what changed.

    ``hook`` (required, so no caller forgets it: pass the outbox's
    :func:`~notifier.notify.outbox.change_hook`, or None on purpose) runs in the write
    transaction with the changes applied, so their alerts and re-planned
    reminders commit with them.
    ``force`` skips the conditional request (re-download and re-parse).
    ``live(key)`` says whether another owner of a UID still exists (default: all
    do, so a UID clash is an error); ``base_dir`` resolves relative file paths.
    Docket sources go to :func:`.dockets.fetch_docket` (``extract``: the extractor
    it folds entries with; default the real one).
    """
    now = now or utcnow()
    if src.is_docket:
        return fetch_docket(store, src, now, hook=hook, on_hold=on_hold, live=live,
                            base_dir=base_dir, extract=extract)
    warn_if_unkeyed(src)
    state = load_state(store, src.name)
    url_digest = _digest(src.url)
    same_url = state.url_digest == url_digest and not force
    try:
        got = fetch_url(src.url, name=src.name,
                        etag=state.etag if same_url and state.body else None,
                        last_modified=state.last_modified if same_url and state.body else None,
                        timeout=src.timeout.total_seconds(), max_bytes=src.max_bytes,
                        max_redirects=src.max_redirects, headers=dict(src.headers),
                        base_dir=base_dir)
    except FetchError as e:
        return record_failure(store, src, now, str(e), e.retry_after)

    body = got.body
    body_sha = hashlib.sha256(body).hexdigest() if body is not None else state.body_sha
    unchanged = got.not_modified or (same_url and body_sha == state.body_sha)
    pending = state.held_at is not None or state.missing not in ("", "{}")
    if unchanged and not pending and not window_moved(src, state, now):
        # Nothing new, nothing waiting on a further fetch and the same expansion
        # day: no parse, no transaction beyond the bookkeeping.
        with store.write() as s:
            row = s.get(SourceState, src.name) or SourceState(name=src.name)
            mark_success(row, src, now, "not_modified" if got.not_modified else "ok", got)
            s.add(row)
        return FetchReport(source=src.name, status="not_modified" if got.not_modified else "ok",
                           next_fetch_at=row.next_fetch_at)
    if body is None:
        if state.body is None:
            return record_failure(store, src, now, f"source {src.name!r}: 304 Not Modified "
                                   "but no stored copy; will fetch in full next time")
        body = zlib.decompress(state.body)
    try:
        spec = parse_body(body, src, now)
    except CalendarError as e:
        return record_failure(store, src, now, _error_text(src, e))
    except Exception as e:  # a parser fault of any type is this source's error
        return record_failure(store, src, now, _unexpected(src, "parsed", e))
    digest = spec_digest(spec)
    try:
        with store.write() as s:
            store.serialize_sync(s)
            row = s.get(SourceState, src.name) or SourceState(name=src.name)
            confirmed = row.held_at is not None and row.held_digest == digest
            out = apply_fetch(s, row, spec, src, now, bump=True, confirmed=confirmed,
                              live=live or (lambda _k: True), hook=hook, on_hold=on_hold)
            mark_success(row, src, now, "held" if out.held else "ok", got)
            row.url_digest = url_digest
            row.body = zlib.compress(body)
            row.body_sha = body_sha
            s.add(row)
    except CalendarError as e:
        return record_failure(store, src, now, _error_text(src, e))
    except Exception as e:  # rolled back: the stored events are as they were
        return record_failure(store, src, now, _unexpected(src, "applied", e))
    return FetchReport(source=src.name, status="held" if out.held else "ok",
                       changes=out.changes, held=out.held_lines, parsed=True,
                       pending_missing=out.pending_missing, next_fetch_at=row.next_fetch_at)


def _unexpected(src: SourceSettings, stage: str, e: BaseException) -> str:
    """The recorded error for a fault that is not a CalendarError; the traceback is logged.

    The exception's text is cut short and its URLs masked: it may quote the body or
    the URL, and the record reaches ``notifier sources`` and /healthz.
    """
    log.error("source %r: unexpected error, body not %s\n%s", src.name, stage,
              mask_urls("".join(traceback.format_exception(e))).rstrip())
    detail = mask_urls(str(e))
    detail = f": {detail[:160]}{'…' if len(detail) > 160 else ''}" if detail else ""
    return (f"source {src.name!r}: {mask_url(src.url)} could not be {stage} "
            f"({type(e).__name__}{detail}); its stored events are unchanged")


def _error_text(src: SourceSettings, e: NotifierError) -> str:
    """One message naming the source, whatever prefix the parser used."""
    head = f"source {src.name!r}: "
    out = []
    for p in getattr(e, "problems", None) or [str(e)]:
        p = p.removeprefix(f"{src.key}: ").removeprefix(head)
        out.append(p)
    return head + "; ".join(out)


def accept_held(store: Store, src: SourceSettings, now: datetime | None = None, *,
                hook: ChangeHook | None,
                live: Callable[[str], bool] | None = None,
                extract: Extractor | None = None) -> FetchReport:
    """Apply a source's held changes now (``notifier sources accept NAME``).

    ``hook`` as for :func:`fetch_source` (required).
    """
    now = now or utcnow()
    if src.is_docket:
        return accept_docket(store, src, now, hook=hook, live=live, extract=extract)
    with store.write() as s:
        store.serialize_sync(s)
        row = s.get(SourceState, src.name)
        if row is None or row.held_at is None or row.body is None:
            raise NotifierError(f"source {src.name!r} has no held changes")
        try:
            spec = parse_body(zlib.decompress(row.body), src, now)
        except CalendarError as e:
            raise NotifierError(_error_text(src, e)) from e
        except Exception as e:  # a parser fault of any type: an error, not a traceback
            raise NotifierError(_unexpected(src, "parsed", e)) from e
        try:
            out = apply_fetch(s, row, spec, src, now, bump=False, confirmed=True,
                              live=live or (lambda _k: True), hook=hook)
        except NotifierError:
            raise
        except Exception as e:  # rolled back with the transaction
            raise NotifierError(_unexpected(src, "applied", e)) from e
        row.last_status = "ok"
        s.add(row)
    return FetchReport(source=src.name, status="ok", changes=out.changes, parsed=True,
                       pending_missing=out.pending_missing, next_fetch_at=row.next_fetch_at)


def live_owners(settings: Settings) -> Callable[[str], bool]:
    """``live`` for fetches: every calendar file key, and every configured source."""
    keys = {s.key for s in settings.sources}
    return lambda key: not is_remote_source(key) or key in keys


def poll_due_sources(store: Store, settings: Settings, now: datetime | None = None, *,
                     hook: ChangeHook | None,
                     on_hold: HoldHook | None = None,
                     extract: Extractor | None = None) -> list[FetchReport]:
    """Fetch every enabled source that is due (never fetched, or next_fetch_at <= now).

    ``extract`` is the docket extractor (default: the real one)."""
    now = now or utcnow()
    with store.read() as s:
        states = {st.name: st for st in (s.get(SourceState, src.name)
                                         for src in settings.sources) if st}
    reports = []
    live = live_owners(settings)
    for src in settings.sources:
        st = states.get(src.name)
        if not src.enabled or (st and st.next_fetch_at and st.next_fetch_at > now):
            continue
        try:
            reports.append(fetch_source(store, src, now, hook=hook, on_hold=on_hold,
                                        live=live, base_dir=settings.base_dir,
                                        extract=extract))
        except Exception as e:  # one source's bug must not stop the others
            reports.append(record_failure(store, src, now, _unexpected(src, "polled", e)))
    return reports


def next_due(store: Store, settings: Settings, now: datetime | None = None) -> datetime | None:
    """When :func:`poll_due_sources` next has work (for arming the scheduler)."""
    now = now or utcnow()
    times = []
    with store.read() as s:
        for src in settings.sources:
            if not src.enabled:
                continue
            st = s.get(SourceState, src.name)
            times.append(st.next_fetch_at if st and st.next_fetch_at else now)
    return min(times) if times else None

