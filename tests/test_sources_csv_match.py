"""CSV rows sharing a key (no id column) keep their ids when one of them leaves the export."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sourcekit import NOW, make_settings, source
from sqlmodel import select

from notifier.config import Settings
from notifier.sources import fetch_source
from notifier.sources.poll import _warned_unkeyed
from notifier.store import Store
from notifier.store.models import Event

HEADER = "Case No,Caption,Hearing Type,Hearing Date,Start\r\n"
MAPPING: dict[str, Any] = {
    "case_number": "Case No", "case_title": "Caption", "kind": "Hearing Type",
    "date": "Hearing Date", "time": "Start", "date_format": "%Y-%m-%d",
}
KEY = "IND-1/ind-1-conference"  # the uid prefix of the case's conferences


def _row(day: str, start: str = "10:00") -> str:
    return f"IND-1,People v. One,Conference,2025-07-{day},{start}"


@pytest.fixture
def cfg(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url, {
        "name": "clerk", "url": "daily.csv", "format": "csv", "timezone": "UTC",
        "csv": MAPPING, "missing_fetches": 2})


def _fetch(store: Store, cfg: Settings, tmp_path: Path, rows: list[str], minutes: int) -> Any:
    (tmp_path / "daily.csv").write_text(HEADER + "\r\n".join(rows) + "\r\n", encoding="utf-8")
    rep = fetch_source(store, source(cfg), NOW + timedelta(minutes=minutes), hook=None,
                       base_dir=tmp_path)
    assert rep.ok, rep.error
    return rep


def _live(store: Store) -> dict[str, int]:
    """uid -> day of July, for the live events."""
    with store.read() as s:
        return {e.uid.split("@")[0]: e.date.day for e in s.exec(select(Event)).all()
                if e.removed_at is None and e.date is not None}


def test_first_of_several_same_key_hearings_dropping_out_moves_nothing(
        store: Store, cfg: Settings, tmp_path: Path) -> None:
    rep = _fetch(store, cfg, tmp_path, [_row("01"), _row("15"), _row("29")], 0)
    assert len(rep.changes) == 3
    before = _live(store)
    assert before == {KEY: 1, f"{KEY}-2": 15, f"{KEY}-3": 29}

    # The 1 Jul conference leaves the export (row order must not matter either).
    rep = _fetch(store, cfg, tmp_path, [_row("29"), _row("15")], 60)
    assert rep.status == "ok" and rep.changes == [] and rep.pending_missing == 1
    assert _live(store) == before
    rep = _fetch(store, cfg, tmp_path, [_row("29"), _row("15")], 120)
    assert rep.status == "ok" and rep.pending_missing == 0
    assert [(c.event_uid.split("@")[0], c.kind) for c in rep.changes] == [(KEY, "removed")]
    assert _live(store) == {f"{KEY}-2": 15, f"{KEY}-3": 29}
    assert _fetch(store, cfg, tmp_path, [_row("15"), _row("29")], 180).changes == []

    # A new conference in the same case gets a fresh id, not a removed one's.
    rep = _fetch(store, cfg, tmp_path, [_row("15"), _row("29"), _row("31")], 240)
    assert [(c.event_uid.split("@")[0], c.kind) for c in rep.changes] == [(f"{KEY}-4", "added")]


def test_real_move_of_one_same_key_hearing_is_one_rescheduled_change(
        store: Store, cfg: Settings, tmp_path: Path) -> None:
    _fetch(store, cfg, tmp_path, [_row("01"), _row("15"), _row("29")], 0)
    rep = _fetch(store, cfg, tmp_path, [_row("01"), _row("22"), _row("29")], 60)
    assert rep.status == "ok" and rep.pending_missing == 0
    assert [(c.event_uid.split("@")[0], c.kind) for c in rep.changes] == \
        [(f"{KEY}-2", "rescheduled_later")]
    # Moving past another hearing keeps the ids too.
    rep = _fetch(store, cfg, tmp_path, [_row("01"), _row("10"), _row("22")], 120)
    assert [(c.event_uid.split("@")[0], c.kind) for c in rep.changes] == \
        [(f"{KEY}-3", "rescheduled_earlier")]
    assert _live(store) == {KEY: 1, f"{KEY}-2": 22, f"{KEY}-3": 10}
    # A time change on the same day stays with its hearing.
    rep = _fetch(store, cfg, tmp_path, [_row("01", "15:00"), _row("10"), _row("22")], 180)
    assert [(c.event_uid.split("@")[0], c.kind) for c in rep.changes] == [(KEY, "time_changed")]


def test_a_pruned_past_hearing_is_not_moved_to_a_new_one(
        store: Store, cfg: Settings, tmp_path: Path) -> None:
    _fetch(store, cfg, tmp_path, [_row("01"), _row("15")], 0)
    later = int((datetime(2025, 7, 2) - NOW.replace(tzinfo=None)).total_seconds() // 60)
    rep = _fetch(store, cfg, tmp_path, [_row("15"), _row("29")], later)
    assert [(c.event_uid.split("@")[0], c.kind) for c in rep.changes] == [(f"{KEY}-3", "added")]
    assert _live(store) == {KEY: 1, f"{KEY}-2": 15, f"{KEY}-3": 29}


def test_unkeyed_csv_source_is_warned_about_once(store: Store, cfg: Settings, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    _warned_unkeyed.discard("clerk")
    with caplog.at_level(logging.WARNING, logger="notifier.sources"):
        _fetch(store, cfg, tmp_path, [_row("01")], 0)
        _fetch(store, cfg, tmp_path, [_row("01")], 60)
    warnings = [r.getMessage() for r in caplog.records if "maps neither id nor key" in r.message]
    assert len(warnings) == 1 and "case_number + kind" in warnings[0]
    keyed = make_settings(tmp_path, "sqlite://", {
        "name": "keyed", "url": "x.csv", "format": "csv",
        "csv": {**MAPPING, "key": ["case_number", "kind"]}})
    from notifier.sources.poll import warn_if_unkeyed
    assert not warn_if_unkeyed(source(keyed))
