"""Remote iCal sources against a real local HTTP server: conditional GET, changes, safety."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feedserver import FeedServer, Route
from sourcekit import BASE, NOW, change_count, ics, live_uids, make_settings, snapshot, source
from sqlmodel import select

from notifier.config import Settings
from notifier.sources import HoldNotice, accept_held, fetch_source, poll_due_sources
from notifier.store import Store
from notifier.store.models import Case, Event, SourceState


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def cfg(tmp_path: Path, db_url: str, server: FeedServer) -> Settings:
    return make_settings(tmp_path, db_url, {
        "name": "part-99", "url": server.url("/part99.ics?token=s3cret"),
        "case": "people-v-weinstein", "timezone": "America/New_York", "interval": "15m",
    })


def serve(server: FeedServer, events: dict[str, tuple[str, str]], **kw: object) -> None:
    server.routes["/part99.ics"] = Route(body=ics(events), **kw)  # type: ignore[arg-type]


def fetch(store: Store, cfg: Settings, now: datetime = NOW, **kw: object):  # type: ignore[no-untyped-def]
    kw.setdefault("hook", None)
    return fetch_source(store, source(cfg), now, **kw)  # type: ignore[arg-type]


def test_first_fetch_adds_events_keeping_uids(store: Store, cfg: Settings,
                                               server: FeedServer) -> None:
    serve(server, BASE)
    rep = fetch(store, cfg)
    assert rep.status == "ok" and rep.parsed
    assert sorted(c.kind for c in rep.changes) == ["added"] * 4
    assert live_uids(store) == set(BASE)
    with store.read() as s:
        h1 = s.get(Event, "h1@court")
        case = s.get(Case, "people-v-weinstein")
    assert h1 is not None and h1.start_utc == datetime(2025, 7, 2, 13, 30, tzinfo=UTC)
    assert h1.kind == "hearing" and h1.source == "source:part-99"
    assert case is not None and case.title == "Part 99" and case.source == "source:part-99"
    _path, headers = server.requests[-1]
    assert headers["User-Agent"].startswith("notifier/")


def test_304_is_not_reparsed(store: Store, cfg: Settings, server: FeedServer) -> None:
    serve(server, BASE)
    fetch(store, cfg)
    rep = fetch(store, cfg, NOW + timedelta(minutes=15))
    assert rep.status == "not_modified"
    assert not rep.parsed and rep.changes == []
    _, headers = server.requests[-1]
    assert headers.get("If-None-Match", "").startswith('"')
    with store.read() as s:
        st = s.get(SourceState, "part-99")
    assert st is not None and st.last_status == "not_modified"
    assert st.next_fetch_at == NOW + timedelta(minutes=30)


def test_identical_body_without_etag_is_not_reparsed(store: Store, cfg: Settings,
                                                     server: FeedServer) -> None:
    body = ics(BASE)
    server.routes["/part99.ics"] = Route(body=body, etag=False)
    fetch(store, cfg)
    rep = fetch(store, cfg, NOW + timedelta(minutes=15))
    assert rep.status == "ok" and not rep.parsed and rep.changes == []


def test_moved_hearing_is_one_rescheduled_change(store: Store, cfg: Settings,
                                                 server: FeedServer) -> None:
    serve(server, BASE)
    fetch(store, cfg)
    moved = dict(BASE, **{"h2@court": ("Status conference", "20250716T100000")})
    serve(server, moved)
    rep = fetch(store, cfg, NOW + timedelta(minutes=15))
    assert rep.status == "ok"
    assert [(c.event_uid, c.kind) for c in rep.changes] == [("h2@court", "rescheduled_later")]
    assert "Wed 9 Jul 2025 10:00" in rep.changes[0].summary
    assert "Wed 16 Jul 2025 10:00" in rep.changes[0].summary


def test_disappearance_is_confirmed_only_by_a_second_fetch(store: Store, cfg: Settings,
                                                           server: FeedServer) -> None:
    serve(server, BASE)
    fetch(store, cfg)
    serve(server, {k: v for k, v in BASE.items() if k != "h3@court"})
    first = fetch(store, cfg, NOW + timedelta(minutes=15))
    assert first.changes == [] and first.pending_missing == 1
    assert "h3@court" in live_uids(store)
    second = fetch(store, cfg, NOW + timedelta(minutes=30))  # a 304: counted all the same
    assert [(c.event_uid, c.kind) for c in second.changes] == [("h3@court", "removed")]
    assert "h3@court" not in live_uids(store)
    assert second.pending_missing == 0


def test_an_event_that_comes_back_resets_its_count(store: Store, cfg: Settings,
                                                   server: FeedServer) -> None:
    serve(server, BASE)
    fetch(store, cfg)
    without = {k: v for k, v in BASE.items() if k != "h3@court"}
    for i, events in enumerate([without, BASE, without], start=1):
        serve(server, events)
        rep = fetch(store, cfg, NOW + timedelta(minutes=15 * i))
        assert rep.changes == []
    assert "h3@court" in live_uids(store)


def test_past_events_dropping_out_are_not_removed(store: Store, cfg: Settings,
                                                  server: FeedServer) -> None:
    serve(server, BASE)
    fetch(store, cfg)
    serve(server, {k: v for k, v in BASE.items() if k != "h1@court"})
    later = datetime(2025, 7, 3, tzinfo=UTC)  # h1 (2 July) is over
    for i in range(3):
        rep = fetch(store, cfg, later + timedelta(minutes=15 * i))
        assert rep.changes == [] and rep.pending_missing == 0
    assert "h1@court" in live_uids(store)


def test_mass_drop_is_held_then_confirmed_by_the_next_fetch(
        store: Store, cfg: Settings, server: FeedServer) -> None:
    notices: list[HoldNotice] = []
    serve(server, BASE)
    fetch(store, cfg)
    serve(server, {"h1@court": BASE["h1@court"]})  # 3 of 4 gone: a broken export
    before = snapshot(store)
    changes = change_count(store)
    assert fetch(store, cfg, NOW + timedelta(minutes=15)).changes == []
    held = fetch(store, cfg, NOW + timedelta(minutes=30),
                 on_hold=lambda s, n, now: notices.append(n))
    assert held.status == "held" and held.changes == []
    assert len(held.held) == 3 and all("would be removed" in line for line in held.held)
    assert snapshot(store) == before and change_count(store) == changes
    assert len(notices) == 1 and notices[0].affected == 3 and notices[0].total == 4
    assert "s3cret" not in notices[0].text and "sources accept part-99" in notices[0].text
    confirmed = fetch(store, cfg, NOW + timedelta(minutes=45),
                      on_hold=lambda s, n, now: notices.append(n))
    assert confirmed.status == "ok"
    assert sorted(c.event_uid for c in confirmed.changes) == ["h2@court", "h3@court",
                                                              "h4@court"]
    assert {c.kind for c in confirmed.changes} == {"removed"}
    assert live_uids(store) == {"h1@court"}
    assert len(notices) == 1  # the operator is told once
    with store.read() as s:
        st = s.get(SourceState, "part-99")
    assert st is not None and st.held_at is None and st.last_status == "ok"


def test_mass_drop_accepted_by_an_operator(store: Store, cfg: Settings,
                                           server: FeedServer) -> None:
    serve(server, BASE)
    fetch(store, cfg)
    serve(server, {"h1@court": BASE["h1@court"]}, etag=False)
    fetch(store, cfg, NOW + timedelta(minutes=15))
    assert fetch(store, cfg, NOW + timedelta(minutes=30)).status == "held"
    rep = accept_held(store, source(cfg), NOW + timedelta(minutes=35), hook=None)
    assert sorted(c.event_uid for c in rep.changes) == ["h2@court", "h3@court", "h4@court"]
    assert live_uids(store) == {"h1@court"}
    after = fetch(store, cfg, NOW + timedelta(minutes=45), force=True)
    assert after.status == "ok" and after.changes == []
    from notifier.errors import NotifierError
    with pytest.raises(NotifierError, match="no held changes"):
        accept_held(store, source(cfg), NOW + timedelta(minutes=50), hook=None)


def test_mass_move_is_held_and_released_when_upstream_recovers(
        store: Store, cfg: Settings, server: FeedServer) -> None:
    notices: list[HoldNotice] = []
    serve(server, BASE)
    fetch(store, cfg)
    shifted = {k: (v[0], v[1][:9] + "23" + v[1][11:]) for k, v in BASE.items()}
    serve(server, shifted)  # every hearing moved to 11 pm: a time-zone bug upstream
    before = snapshot(store)
    rep = fetch(store, cfg, NOW + timedelta(minutes=15), on_hold=lambda s, n, t: notices.append(n))
    assert rep.status == "held" and len(rep.held) == 4 and snapshot(store) == before
    # A different but still disruptive export: still held, no second alert.
    serve(server, {k: (v[0], v[1][:9] + "22" + v[1][11:]) for k, v in BASE.items()})
    rep = fetch(store, cfg, NOW + timedelta(minutes=30), on_hold=lambda s, n, t: notices.append(n))
    assert rep.status == "held" and len(notices) == 1
    serve(server, BASE)  # upstream fixed
    rep = fetch(store, cfg, NOW + timedelta(minutes=45))
    assert rep.status == "ok" and rep.changes == [] and snapshot(store) == before


def test_hook_runs_in_the_same_transaction(store: Store, cfg: Settings,
                                           server: FeedServer) -> None:
    seen: list[int] = []

    def hook(s, changes, now):  # type: ignore[no-untyped-def]
        seen.append(len(changes))
        assert s.exec(select(Event).where(Event.uid == "h1@court")).first() is not None

    serve(server, BASE)
    fetch(store, cfg, hook=hook)
    assert seen == [4]

    def broken(s, changes, now):  # type: ignore[no-untyped-def]
        raise RuntimeError("outbox down")

    moved = dict(BASE, **{"h2@court": ("Status conference", "20250716T100000")})
    serve(server, moved)
    before = snapshot(store)
    reports = poll_due_sources(store, cfg, NOW + timedelta(hours=1), hook=broken)
    assert reports[0].status == "error" and "outbox down" in (reports[0].error or "")
    assert snapshot(store) == before  # the change and its alerts commit together or not at all


@pytest.mark.parametrize("failure", ["timeout", "http500", "oversized", "oversized-stream",
                                     "malformed", "html", "redirect-loop", "bad-event"])
def test_a_failing_source_keeps_its_events(store: Store, tmp_path: Path, db_url: str,
                                           server: FeedServer, failure: str) -> None:
    cfg = make_settings(tmp_path, db_url, {
        "name": "part-99", "url": server.url("/part99.ics?token=s3cret"),
        "case": "people-v-weinstein", "timeout": "1s", "max_bytes": 20000,
        "max_redirects": 3,
    })
    serve(server, BASE)
    assert fetch(store, cfg).status == "ok"
    before, changes = snapshot(store), change_count(store)
    route = server.routes["/part99.ics"]
    expected = {
        "timeout": "timed out after 1s",
        "http500": "HTTP 500",
        "oversized": "more than max_bytes (20000)",
        "oversized-stream": "larger than max_bytes (20000); download stopped",
        "malformed": "not a valid iCalendar file",
        "html": "not a valid iCalendar file",
        "redirect-loop": "redirected more than max_redirects (3) times",
        "bad-event": "DTSTART",
    }[failure]
    if failure == "timeout":
        route.delay = 4
    elif failure == "http500":
        route.status, route.body = 500, b"Internal Server Error"
    elif failure == "oversized":
        route.body = ics(BASE) + b" " * 30000
    elif failure == "oversized-stream":
        route.chunked_extra, route.etag = 100_000, False
    elif failure == "malformed":
        route.body = b"BEGIN:VCALENDAR\r\nthis is not ical\r\n"
    elif failure == "html":
        route.body, route.content_type = b"<html><body>Maintenance</body></html>", "text/html"
    elif failure == "redirect-loop":
        server.routes["/part99.ics"] = Route(redirect="/loop")
        server.routes["/loop"] = Route(redirect="/part99.ics")
    elif failure == "bad-event":
        route.body = ics(BASE).replace(b"DTSTART;TZID=America/New_York:20250702T093000",
                                       b"DTSTART;TZID=America/New_York:2025-07-02")
    rep = fetch(store, cfg, NOW + timedelta(minutes=15))
    assert rep.status == "error"
    assert rep.error is not None and "source 'part-99'" in rep.error
    assert expected in rep.error, rep.error
    assert "s3cret" not in rep.error
    assert snapshot(store) == before and change_count(store) == changes
    with store.read() as s:
        st = s.get(SourceState, "part-99")
    assert st is not None and st.failures == 1 and st.last_error == rep.error
    assert st.last_success_at == NOW


def test_backoff_while_failing_and_reset_on_success(store: Store, cfg: Settings,
                                                    server: FeedServer) -> None:
    server.routes["/part99.ics"] = Route(status=500)
    t = NOW
    delays = []
    for _ in range(6):
        reports = poll_due_sources(store, cfg, t, hook=None)
        assert len(reports) == 1 and reports[0].status == "error"
        # Not due yet:
        assert poll_due_sources(store, cfg, t + timedelta(minutes=1), hook=None) == []
        assert reports[0].next_fetch_at is not None
        delays.append(reports[0].next_fetch_at - t)
        t = reports[0].next_fetch_at
    assert delays == [timedelta(minutes=m) for m in (30, 60, 120, 240, 360, 360)]
    serve(server, BASE)
    rep = poll_due_sources(store, cfg, t, hook=None)[0]
    assert rep.status == "ok" and rep.next_fetch_at == t + timedelta(minutes=15)
    with store.read() as s:
        st = s.get(SourceState, "part-99")
    assert st is not None and st.failures == 0 and st.last_error is None


def test_retry_after_is_honoured(store: Store, cfg: Settings, server: FeedServer) -> None:
    server.routes["/part99.ics"] = Route(status=503, headers={"Retry-After": "7200"})
    rep = fetch(store, cfg)
    assert rep.next_fetch_at == NOW + timedelta(hours=2)


def test_poll_fetches_only_due_and_enabled_sources(tmp_path: Path, db_url: str, store: Store,
                                                   server: FeedServer) -> None:
    serve(server, BASE)
    server.routes["/other.ics"] = Route(body=ics({"o1@court": ("Hearing", "20250710T090000")}))
    cfg = make_settings(
        tmp_path, db_url,
        {"name": "part-99", "url": server.url("/part99.ics"), "case": "a", "interval": "15m"},
        {"name": "other", "url": server.url("/other.ics"), "case": "b", "interval": "1h"},
        {"name": "off", "url": server.url("/none.ics"), "enabled": False})
    assert {r.source for r in poll_due_sources(store, cfg, NOW, hook=None)} == \
        {"part-99", "other"}
    later = poll_due_sources(store, cfg, NOW + timedelta(minutes=20), hook=None)
    assert [r.source for r in later] == ["part-99"]
    from notifier.sources import next_due
    assert next_due(store, cfg, NOW + timedelta(minutes=20)) == NOW + timedelta(minutes=35)


def test_small_sources_are_not_held(store: Store, cfg: Settings, server: FeedServer) -> None:
    two = dict(list(BASE.items())[:2])
    serve(server, two)
    fetch(store, cfg)
    serve(server, {})  # both gone: 100%, but below min_hold_events (3)
    assert fetch(store, cfg, NOW + timedelta(minutes=15)).changes == []
    rep = fetch(store, cfg, NOW + timedelta(minutes=30))
    assert rep.status == "ok" and [c.kind for c in rep.changes] == ["removed", "removed"]
