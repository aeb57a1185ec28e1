"""A CourtListener docket source on PostgreSQL: entries stored, folded, moved, quoted."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from docketkit import DOCKET_ID, TOKEN, FakeCourtListener, table_extract
from sqlmodel import select

from notifier.config import parse_settings
from notifier.sources import fetch_source
from notifier.store import Store
from notifier.store.models import DocketProvenance, Event

ADMIN_URL = os.environ.get("NOTIFIER_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(
    not ADMIN_URL, reason="no PostgreSQL server: run `.ci/postgres.sh` and set "
    "NOTIFIER_TEST_POSTGRES_URL to its output (CI does)")
NOW = datetime(2027, 2, 12, 15, 0, tzinfo=UTC)


def test_a_docket_source_on_postgres(tmp_path: Path, pg_url: str) -> None:
    store = Store(pg_url)
    try:
        with FakeCourtListener() as cl:
            settings = parse_settings({
                "database": {"url": pg_url}, "calendars": {"paths": []},
                "sources": [{"name": "roe", "format": "courtlistener", "url": cl.api,
                             "docket": str(DOCKET_ID), "token": TOKEN,
                             "timezone": "America/New_York"}]},
                origin="test.toml", base_dir=tmp_path, env={})
            src = settings.sources[0]
            assert fetch_source(store, src, NOW, hook=None, extract=table_extract).ok
            cl.add(398811006, 18, "2027-02-12", "Sentencing reset to 10/20/2027 at 2:30 PM.",
                   "2027-02-12T07:01:00.000000-08:00")
            rep = fetch_source(store, src, NOW + timedelta(minutes=20), hook=None,
                               extract=table_extract)
            assert [c.kind for c in rep.changes] == ["rescheduled_later"]
            with store.read() as s:
                prov = s.get(DocketProvenance, rep.changes[0].id)
                assert prov is not None and prov.number == "18"
                assert len(s.exec(select(Event)).all()) == 3
            rep = fetch_source(store, src, NOW + timedelta(days=1), hook=None,
                               extract=table_extract)
            assert rep.parsed and rep.changes == []
    finally:
        store.close()
