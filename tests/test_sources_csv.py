"""CSV exports: a custom column mapping, local times, stable ids, statuses, bad rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from feedserver import FeedServer, Route
from sourcekit import NOW, change_count, make_settings, snapshot, source
from sqlmodel import select

from notifier.config import Settings
from notifier.sources import fetch_source
from notifier.store import Store
from notifier.store.models import Case, Event

HEADER = "Case No,Caption,Hearing Type,Hearing Date,Start,Courtroom,Judge,Disposition\r\n"
ROWS = [
    "IND-75345/2020,People v. Weinstein,Hearing,07/02/2025,9:30 AM,Part 99,Farber,Scheduled",
    "IND-75345/2020,People v. Weinstein,Status Conference,07/09/2025,02:15 PM,Part 99,Farber,",
    "CR-2025-001,People v. Doe,Arraignment,11/03/2025,10:00 AM,Part 50,Smith,Set",
    "CR-2025-001,People v. Doe,Status Conference,,,Part 50,Smith,TBD",
]
MAPPING: dict[str, Any] = {
    "case_number": "Case No", "case_title": "Caption", "kind": "Hearing Type",
    "date": "Hearing Date", "time": "Start", "location": "Courtroom", "judge": "Judge",
    "status": "Disposition", "date_format": "%m/%d/%Y", "time_format": "%I:%M %p",
    "status_map": {"Off calendar": "cancelled"},
}


def export(rows: list[str]) -> bytes:
    return (HEADER + "\r\n".join(rows) + "\r\n").encode()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def cfg(tmp_path: Path, db_url: str, server: FeedServer) -> Settings:
    return make_settings(tmp_path, db_url, {
        "name": "clerk-daily", "url": server.url("/daily.csv"), "format": "csv",
        "timezone": "America/New_York", "csv": MAPPING, "missing_fetches": 2,
    })


def put(server: FeedServer, rows: list[str]) -> None:
    server.routes["/daily.csv"] = Route(body=export(rows), content_type="text/csv")


def events(store: Store) -> dict[str, Event]:
    with store.read() as s:
        return {e.event_id: e for e in s.exec(select(Event)).all()}


def test_csv_export_with_mapping_and_local_times(store: Store, cfg: Settings,
                                                 server: FeedServer) -> None:
    put(server, ROWS)
    rep = fetch_source(store, source(cfg), NOW, hook=None)
    assert rep.status == "ok", rep.error
    assert len(rep.changes) == 4
    evs = events(store)
    hearing = evs["ind-75345-2020-hearing"]
    assert hearing.case_id == "IND-75345-2020"
    assert hearing.start_utc == datetime(2025, 7, 2, 13, 30, tzinfo=UTC)  # EDT
    assert hearing.kind == "hearing" and hearing.title == "Hearing"
    assert hearing.location == "Part 99" and hearing.judge == "Farber"
    assert hearing.source == "source:clerk-daily"
    conf = evs["ind-75345-2020-status-conference"]
    assert conf.start_utc == datetime(2025, 7, 9, 18, 15, tzinfo=UTC)
    arraignment = evs["cr-2025-001-arraignment"]
    assert arraignment.start_utc == datetime(2025, 11, 3, 15, 0, tzinfo=UTC)  # EST after DST
    undated = evs["cr-2025-001-status-conference"]
    assert undated.date is None and undated.status == "tbd"
    with store.read() as s:
        case = s.get(Case, "IND-75345-2020")
    assert case is not None and case.title == "People v. Weinstein"
    assert case.timezone == "America/New_York"


def test_csv_moved_time_and_cancellation(store: Store, cfg: Settings, server: FeedServer) -> None:
    put(server, ROWS)
    fetch_source(store, source(cfg), NOW, hook=None)
    rows = list(ROWS)
    rows[0] = rows[0].replace("9:30 AM", "11:00 AM")
    rows[2] = rows[2].replace(",Set", ",Off calendar")
    put(server, rows)
    rep = fetch_source(store, source(cfg), NOW + timedelta(hours=1), hook=None)
    kinds = sorted((c.event_uid.split("@")[0], c.kind) for c in rep.changes)
    assert kinds == [("CR-2025-001/cr-2025-001-arraignment", "cancelled"),
                     ("IND-75345-2020/ind-75345-2020-hearing", "time_changed")]


def test_csv_same_kind_twice_gets_stable_ids(store: Store, cfg: Settings,
                                             server: FeedServer) -> None:
    rows = [*ROWS, "IND-75345/2020,People v. Weinstein,Hearing,08/20/2025,9:30 AM,Part 99,"
                   "Farber,Scheduled"]
    put(server, list(reversed(rows)))  # row order must not matter
    fetch_source(store, source(cfg), NOW, hook=None)
    evs = events(store)
    assert evs["ind-75345-2020-hearing"].date == datetime(2025, 7, 2).date()
    assert evs["ind-75345-2020-hearing-2"].date == datetime(2025, 8, 20).date()


@pytest.mark.parametrize(("bad_row", "message"), [
    ("CR-9,People v. X,Hearing,2025-07-02,9:30 AM,P1,J,Set",
     "row 6: date '2025-07-02' does not match date_format '%m/%d/%Y'"),
    ("CR-9,People v. X,Hearing,07/02/2025,25:99,P1,J,Set",
     "row 6: time '25:99' does not match time_format '%I:%M %p'"),
    ("CR-9,People v. X,Hearing,07/02/2025,9:30 AM,P1,J,Vanished",
     "row 6: unknown status 'Vanished'"),
    (",People v. X,Hearing,07/02/2025,9:30 AM,P1,J,Set", "row 6: case number ('Case No')"),
])
def test_bad_csv_rows_leave_events_untouched(store: Store, cfg: Settings, server: FeedServer,
                                             bad_row: str, message: str) -> None:
    put(server, ROWS)
    fetch_source(store, source(cfg), NOW, hook=None)
    before, changes = snapshot(store), change_count(store)
    put(server, [*ROWS, bad_row])
    rep = fetch_source(store, source(cfg), NOW + timedelta(hours=1), hook=None)
    assert rep.status == "error"
    assert rep.error is not None and rep.error.startswith("source 'clerk-daily': ")
    assert message in rep.error
    assert snapshot(store) == before and change_count(store) == changes


def test_csv_missing_column_names_the_header(store: Store, cfg: Settings,
                                             server: FeedServer) -> None:
    server.routes["/daily.csv"] = Route(body=b"Case,Date\r\nX,07/02/2025\r\n")
    rep = fetch_source(store, source(cfg), NOW, hook=None)
    assert rep.status == "error" and rep.error is not None
    assert "'Case No' (case_number)" in rep.error and "the header has: 'Case', 'Date'" in \
        rep.error


def test_csv_for_one_configured_case_with_id_column(tmp_path: Path, db_url: str, store: Store,
                                                    server: FeedServer) -> None:
    cfg = make_settings(tmp_path, db_url, {
        "name": "judge-list", "url": server.url("/j.csv"), "format": "csv", "case": "doe",
        "timezone": "Europe/London",
        "csv": {"id": "Ref", "date": "Day", "time": "At", "title": "What",
                "delimiter": ";"},
    })
    server.routes["/j.csv"] = Route(body=b"Ref;Day;At;What\nA-1;2025-07-02;10:00;Hearing\n")
    rep = fetch_source(store, source(cfg), NOW, hook=None)
    assert rep.status == "ok", rep.error
    ev = events(store)["a-1"]
    assert ev.case_id == "doe" and ev.uid == "doe/a-1@judge-list.source.notifier"
    assert ev.start_utc == datetime(2025, 7, 2, 9, 0, tzinfo=UTC)  # BST
    assert ev.title == "Hearing" and ev.kind == "hearing"
