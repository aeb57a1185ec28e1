"""CourtListener docket-alert webhooks: a secret path picks the source, a repeated
Idempotency-Key changes nothing, and the source is read at its next poll."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from docketkit import DOCKET_ID, TOKEN
from webhelpers import LiveServer

from notifier.config import parse_settings
from notifier.server.web import create_app
from notifier.store import Store
from notifier.store.models import SourceState

SECRET = "wh-secret-2f9c1d7e55aa"


def test_a_webhook_makes_its_source_due_once_per_idempotency_key(
        tmp_path: Path, db_url: str, store: Store, caplog: pytest.LogCaptureFixture) -> None:
    settings = parse_settings({
        "database": {"url": db_url}, "calendars": {"paths": []},
        "sources": [{"name": "roe", "format": "courtlistener", "docket": str(DOCKET_ID),
                     "token": TOKEN, "webhook_secret": SECRET, "timezone": "America/Chicago"}]},
        origin="test.toml", base_dir=tmp_path, env={})
    far = datetime(2100, 1, 1, tzinfo=UTC)
    with store.write() as s:
        s.add(SourceState(name="roe", next_fetch_at=far))
    body = {"webhook": {"event_type": 1, "version": 2, "date_created": "2027-02-12T07:01:00Z"},
            "payload": {"results": [{"id": 398811006, "docket": DOCKET_ID, "entry_number": 18,
                                     "description": "Sentencing reset to 10/20/2027."}]}}
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    with LiveServer(create_app(settings, store), access_log=True) as srv:
        url = f"{srv.url}/webhooks/courtlistener/{SECRET}"
        r = httpx.post(url, json=body, headers={"Idempotency-Key": "k-1"}, timeout=10)
        assert (r.status_code, r.json()) == (200, {"status": "accepted"})
        with store.read() as s:
            st = s.get(SourceState, "roe")
            assert st is not None and st.next_fetch_at is not None and st.next_fetch_at < far
        with store.write() as s:
            st = s.get(SourceState, "roe")
            assert st is not None
            st.next_fetch_at = far
            s.add(st)
        # CourtListener's retry of the same delivery: answered, nothing done.
        r = httpx.post(url, json=body, headers={"Idempotency-Key": "k-1"}, timeout=10)
        assert (r.status_code, r.json()) == (200, {"status": "duplicate"})
        with store.read() as s:
            st = s.get(SourceState, "roe")
            assert st is not None and st.next_fetch_at == far
        assert httpx.post(url, json=body, timeout=10).status_code == 400  # no key
        wrong = httpx.post(f"{srv.url}/webhooks/courtlistener/{SECRET}x", json=body,
                           headers={"Idempotency-Key": "k-2"}, timeout=10)
        assert wrong.status_code == 404
    assert SECRET not in caplog.text and "/webhooks/courtlistener/…" in caplog.text
