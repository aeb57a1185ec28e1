"""CourtListener docket sources end to end, against a fake CourtListener API v4 on 127.0.0.1.

Entries -> facts -> events -> a change alert through a json:// channel -> the feed and
the case page, with pagination, only-newer reads, an entry edited later, 429 with
Retry-After, 401, 5xx and the hourly request budget.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from channelkit import HttpSink
from docketkit import DOCKET_ID, TOKEN, FakeCourtListener, table_extract
from sqlmodel import select
from webhelpers import LiveServer

from notifier.config import Settings, parse_settings
from notifier.feeds.cache import FeedService, options_from
from notifier.notify.dispatch import Dispatcher
from notifier.notify.outbox import change_hook
from notifier.server.web import create_app
from notifier.sources import fetch_source, source_status
from notifier.store import Store
from notifier.store.models import Change, DocketEntry, DocketProvenance, DocketState, Event

CASE = "nysd-1-26-cr-00123"
NOW = datetime(2027, 2, 12, 15, 0, tzinfo=UTC)


def _settings(tmp_path: Path, db_url: str, api: str, *, token: str = TOKEN,
              channel: str | None = None, **extra: Any) -> Settings:
    data: dict[str, Any] = {
        "database": {"url": db_url}, "calendars": {"paths": []},
        "sources": [{"name": "roe", "format": "courtlistener", "url": api,
                     "docket": f"https://www.courtlistener.com/docket/{DOCKET_ID}/x/",
                     "token": "${CL_TOKEN}", "timezone": "America/New_York", **extra}]}
    if channel:
        data["channels"] = [{"name": "desk", "url": channel, "notify": ["change"]}]
    return parse_settings(data, origin="test.toml", base_dir=tmp_path, env={"CL_TOKEN": token})


def _events(store: Store) -> dict[str, tuple[str, str, str | None]]:
    """event_id -> (kind, status, local start or date)."""
    with store.read() as s:
        out = {}
        for e in s.exec(select(Event).where(Event.source == "source:roe")).all():
            when = e.start_utc.isoformat() if e.start_utc else (e.date.isoformat()
                                                                if e.date else None)
            out[e.event_id] = (e.kind, e.status, when)
        return out


def _fetch(store: Store, settings: Settings, now: datetime = NOW) -> Any:
    return fetch_source(store, settings.sources[0], now, hook=change_hook(settings),
                        extract=table_extract)


def test_entries_become_events_and_a_reset_alerts_with_its_quote(
        tmp_path: Path, db_url: str, store: Store) -> None:
    with FakeCourtListener() as cl, HttpSink() as sink:
        settings = _settings(tmp_path, db_url, cl.api, channel=sink.json_url())
        rep = _fetch(store, settings)
        assert rep.ok, rep.error
        # Five entries, two a page: the docket, then three pages following `next`.
        pages = cl.entry_requests()
        assert len(pages) == 3 and "cursor=" in pages[1] and "cursor=" in pages[2]
        assert {a for _p, a in cl.requests} == {f"Token {TOKEN}"}
        assert _events(store) == {
            "conference-14": ("conference", "scheduled", "2027-05-04T14:00:00+00:00"),
            "sentencing-15": ("sentencing", "scheduled", "2027-09-01T15:00:00+00:00"),
            "trial-16": ("trial", "scheduled", "2027-03-01"),
        }
        with store.read() as s:
            case = s.exec(select(Event)).first()
            assert case is not None and case.case_id == CASE
            assert case.url == f"http://{cl.host}/docket/{DOCKET_ID}/united-states-v-roe/"

        # Nothing new upstream: only entries modified since the newest seen are asked
        # for, and nothing changes.
        rep = _fetch(store, settings, NOW + timedelta(minutes=20))
        assert rep.ok and rep.changes == []
        assert "date_modified__gte=2027-02-10T12%3A00%3A00.000000-08%3A00" \
            in cl.entry_requests()[-1]

        cl.add(398811006, 18, "2027-02-12", "Sentencing reset to 10/20/2027 at 2:30 PM.",
               "2027-02-12T07:01:00.000000-08:00")
        rep = _fetch(store, settings, NOW + timedelta(minutes=40))
        assert [c.kind for c in rep.changes] == ["rescheduled_later"]
        change = rep.changes[0]
        assert change.summary.endswith(
            "(docket entry 18, filed 2027-02-12: “Sentencing reset to 10/20/2027 at 2:30 PM”)")
        with store.read() as s:
            prov = s.get(DocketProvenance, change.id)
            assert prov is not None and (prov.source, prov.number, prov.link) == (
                "roe", "18", f"http://{cl.host}/docket/{DOCKET_ID}/18/united-states-v-roe/")
            assert prov.quote == "Sentencing reset to 10/20/2027 at 2:30 PM"
            history = [c.kind for c in s.exec(select(Change).where(
                Change.event_uid == change.event_uid)).all()]
        assert history == ["added", "rescheduled_later"]  # no separate "notes changed"
        assert _events(store)["sentencing-15"][2] == "2027-10-20T18:30:00+00:00"

        # The alert goes out through the json:// channel, quoting the entry.
        later = NOW + timedelta(hours=1)
        stats = Dispatcher(store, settings, clock=lambda: later).run_once()
        assert stats.sent >= 1
        moved = [b for _p, b in sink.requests if "Sentencing moved later" in str(b)]
        assert len(moved) == 1 and "docket entry 18" in str(moved[0]), sink.requests

        # The feed's description and the case page quote it too.
        feed = FeedService(store, options_from(settings)).get(CASE)
        assert feed is not None
        text = feed.body.decode().replace("\r\n ", "")
        assert "docket entry 18\\, filed 2027-02-12" in text
        with LiveServer(create_app(settings, store)) as srv:
            page = httpx.get(f"{srv.url}/cases/{CASE}", timeout=10).text
        assert "From docket entry 18, filed 2027-02-12" in page
        assert "Sentencing reset to 10/20/2027 at 2:30 PM" in page


def test_an_entry_edited_later_replaces_its_text_and_rereading_changes_nothing(
        tmp_path: Path, db_url: str, store: Store) -> None:
    with FakeCourtListener() as cl:
        settings = _settings(tmp_path, db_url, cl.api)
        assert _fetch(store, settings).ok
        before = _events(store)
        cl.edit(398811004, "Jury Trial continued from 3/1/2027 to 4/12/2027.")
        rep = _fetch(store, settings, NOW + timedelta(minutes=20))
        assert [c.kind for c in rep.changes] == ["rescheduled_later"]
        assert rep.changes[0].event_uid.startswith(f"{CASE}/trial-16@")  # same event, moved
        with store.read() as s:
            row = s.exec(select(DocketEntry).where(DocketEntry.entry_key == "398811004")).one()
            assert row.text == "Jury Trial continued from 3/1/2027 to 4/12/2027."
            assert len(s.exec(select(DocketEntry)).all()) == 5
        assert _events(store) == {**before, "trial-16": ("trial", "scheduled", "2027-04-12")}

        # Reading every entry again from the start changes nothing: the same day it is
        # not even folded again; the next day (folded once a day) it is, to no change.
        with store.write() as s:
            st = s.get(DocketState, "roe")
            assert st is not None
            st.cursor = None
            s.add(st)
        rep = _fetch(store, settings, NOW + timedelta(minutes=40))
        assert rep.status == "not_modified" and not rep.parsed
        assert "date_modified__gte" not in cl.entry_requests()[-1]
        rep = _fetch(store, settings, NOW + timedelta(days=1))
        assert rep.status == "ok" and rep.parsed and rep.changes == []


def test_429_waits_for_retry_after_and_5xx_is_a_source_error(
        tmp_path: Path, db_url: str, store: Store) -> None:
    with FakeCourtListener() as cl:
        settings = _settings(tmp_path, db_url, cl.api)
        assert _fetch(store, settings).ok
        before = _events(store)
        cl.failures.append((429, {"Retry-After": "7200"}))
        rep = _fetch(store, settings, NOW + timedelta(minutes=20))
        assert rep.status == "error" and "HTTP 429 Too Many Requests" in (rep.error or "")
        assert rep.next_fetch_at is not None
        # Two hours, as the server asks (the backoff alone would be 30 minutes).
        assert rep.next_fetch_at >= NOW + timedelta(minutes=20, hours=2)
        cl.failures.append((403, {}))
        rep = _fetch(store, settings, NOW + timedelta(minutes=50))
        assert "denied access (HTTP 403 Forbidden) to /api/rest/v4/" in (rep.error or "")
        cl.failures.append((502, {}))
        rep = _fetch(store, settings, NOW + timedelta(hours=1))
        assert rep.status == "error" and "HTTP 502 Bad Gateway" in (rep.error or "")
        assert _events(store) == before
        [st] = source_status(store, settings)
        assert st.failures == 3 and not st.healthy
        rep = _fetch(store, settings, NOW + timedelta(hours=2))
        assert rep.ok and source_status(store, settings)[0].failures == 0


def test_401_says_the_token_is_wrong_without_showing_it(
        tmp_path: Path, db_url: str, store: Store) -> None:
    wrong = "wrong-token-9d8c7b6a"
    with FakeCourtListener() as cl:
        settings = _settings(tmp_path, db_url, cl.api, token=wrong)
        rep = _fetch(store, settings)
        assert rep.status == "error"
        assert "CourtListener refused the token (HTTP 401 Unauthorized)" in (rep.error or "")
        [st] = source_status(store, settings)
        assert wrong not in str(st.as_dict()) and wrong not in (rep.error or "")
        assert cl.requests[0][1] == f"Token {wrong}"  # sent, only to the API
        assert _events(store) == {}
        from notifier.server.health import health_report
        health = health_report(store, None, settings)
        [src] = health.body["sources"]
        assert health.body["status"] == "degraded" and src["format"] == "courtlistener"
        assert "refused the token" in src["last_error"] and wrong not in str(health.body)


def test_the_hourly_budget_stops_reading_and_resumes_next_hour(
        tmp_path: Path, db_url: str, store: Store) -> None:
    with FakeCourtListener() as cl:
        settings = _settings(tmp_path, db_url, cl.api, max_requests_per_hour=2)
        rep = _fetch(store, settings)
        # The docket and one page of entries: then the budget is spent.
        assert rep.ok and len(cl.requests) == 2
        assert rep.next_fetch_at is not None and rep.next_fetch_at >= NOW + timedelta(hours=1)
        assert set(_events(store)) == {"conference-14"}
        rep = _fetch(store, settings, NOW + timedelta(minutes=30))
        assert len(cl.requests) == 2  # nothing asked while the budget is spent
        rep = _fetch(store, settings, NOW + timedelta(hours=1, minutes=1))
        rep = _fetch(store, settings, NOW + timedelta(hours=2, minutes=2))
        assert rep.ok
        assert set(_events(store)) == {"conference-14", "sentencing-15", "trial-16"}
        with store.read() as s:
            assert len(s.exec(select(DocketEntry)).all()) == 5


def test_a_pagination_link_to_another_host_is_refused(
        tmp_path: Path, db_url: str, store: Store) -> None:
    with FakeCourtListener() as cl:
        cl.link_host = "cl.evil.example"
        settings = _settings(tmp_path, db_url, cl.api)
        rep = _fetch(store, settings)
        assert rep.status == "error" and "page link to another host" in (rep.error or "")
        assert len(cl.entry_requests()) == 1  # the token never went to the other host
        assert TOKEN not in (rep.error or "")


@pytest.mark.parametrize("bad, message", [
    ({"docket": "12 34"}, "must be a CourtListener docket id"),
    ({"token": ""}, "needs token"),
    ({"format": "ics"}, 'docket is only for format = "courtlistener"'),
    ({"webhook_secret": "sekrit-tok/short"}, "webhook_secret must be 16 to 200"),
    ({"timezone": None}, "needs timezone = "),
    ({"format": "pacer-rss", "token": None, "docket": None, "case": "c",
      "case_numbers": ["1:26-cr-1", "1:26-cr-2"]}, "case = is for one case number"),
])
def test_config_errors_name_the_key_and_hide_the_token(
        tmp_path: Path, bad: dict[str, Any], message: str) -> None:
    from notifier.errors import ConfigError
    src: dict[str, Any] = {
        "name": "roe", "format": "courtlistener", "docket": "1", "token": "sekrit-tok",
        "url": "https://cl.example/api/rest/v4/", "timezone": "America/New_York", **bad}
    src = {k: v for k, v in src.items() if v is not None}
    with pytest.raises(ConfigError) as e:
        parse_settings({"sources": [src]}, origin="c.toml", base_dir=tmp_path, env={})
    assert message in str(e.value) and "c.toml" in str(e.value)
    assert "sekrit-tok" not in str(e.value)


def test_the_dockets_example_config_loads_and_its_sources_parse_uncommented(
        tmp_path: Path) -> None:
    from notifier.config import load_settings
    repo = Path(__file__).resolve().parent.parent
    example = (repo / "config.dockets.example.toml").read_text()
    assert load_settings(repo / "config.dockets.example.toml", env={}).sources == []
    lines = [ln[2:] if ln.startswith("# ") and ("=" in ln or ln.startswith("# [[")) else ln
             for ln in example.splitlines() if not ln.startswith("#   ")]
    cfg = tmp_path / "c.toml"
    cfg.write_text("\n".join(lines), encoding="utf-8")
    settings = load_settings(cfg, env={"COURTLISTENER_TOKEN": "t", "SLACK_WEBHOOK_URL":
                                       "json://127.0.0.1:9/x",
                                       "CL_WEBHOOK_SECRET": "0123456789abcdef0123"})
    cl, rss = settings.sources
    assert (cl.format, cl.docket_id, rss.format, rss.case_numbers) == (
        "courtlistener", "68571705", "pacer-rss", ["1:26-cr-00123"])


def test_an_entry_cancelling_most_events_is_held_then_confirmed_or_accepted(
        tmp_path: Path, db_url: str, store: Store) -> None:
    from notifier.sources import accept_held
    with FakeCourtListener() as cl:
        settings = _settings(tmp_path, db_url, cl.api)
        assert _fetch(store, settings).ok
        cl.add(398811009, 20, "2027-02-12",
               "ORDER: all dates are VACATED pending the competency evaluation.",
               "2027-02-12T09:00:00.000000-08:00")
        rep = _fetch(store, settings, NOW + timedelta(minutes=20))
        assert rep.status == "held" and len(rep.held) == 3 and rep.changes == []
        assert {s for _k, s, _w in _events(store).values()} == {"scheduled"}
        # The operator accepts: applied at once, each cancellation quoting the order.
        rep = accept_held(store, settings.sources[0], NOW + timedelta(minutes=30),
                          hook=change_hook(settings), extract=table_extract)
        assert sorted(c.kind for c in rep.changes) == ["cancelled"] * 3
        assert all("docket entry 20" in c.summary for c in rep.changes)
        assert {s for _k, s, _w in _events(store).values()} == {"cancelled"}


def test_a_held_fold_is_applied_when_the_next_poll_confirms_it(
        tmp_path: Path, db_url: str, store: Store) -> None:
    with FakeCourtListener() as cl:
        settings = _settings(tmp_path, db_url, cl.api)
        assert _fetch(store, settings).ok
        cl.add(398811009, 20, "2027-02-12",
               "ORDER: all dates are VACATED pending the competency evaluation.",
               "2027-02-12T09:00:00.000000-08:00")
        assert _fetch(store, settings, NOW + timedelta(minutes=20)).status == "held"
        rep = _fetch(store, settings, NOW + timedelta(minutes=40))
        assert rep.status == "ok" and len(rep.changes) == 3


def test_the_daemon_polls_a_docket_first_as_a_baseline_then_alerts(
        tmp_path: Path, db_url: str, store: Store) -> None:
    from notifier.server.scheduler import Engine
    from notifier.store.models import Notification
    with FakeCourtListener() as cl:
        settings = _settings(tmp_path, db_url, cl.api, channel="json://127.0.0.1:9/x")
        at = [datetime.now(UTC)]
        engine = Engine(store, settings, sync=False, clock=lambda: at[0])
        engine.start()
        try:
            [report] = engine.poll_sources()  # the real extractor
            assert report.error is None and len(report.changes) == 3
            cl.add(398811006, 18, "2027-02-12", "Sentencing reset to 10/20/2027 at 2:30 PM.",
                   "2027-02-12T07:01:00.000000-08:00")
            at[0] += timedelta(hours=1)
            [report] = engine.poll_sources()
        finally:
            assert engine.shutdown(5)
        assert [c.kind for c in report.changes] == ["rescheduled_later"]
        with store.read() as s:
            alerts = [n for n in s.exec(select(Notification)).all() if n.type == "change"]
        assert len(alerts) == 1 and "docket entry 18" in alerts[0].payload


def test_an_uncertain_fact_waits_for_review_and_goes_when_its_entry_is_edited(
        tmp_path: Path, db_url: str, store: Store) -> None:
    from notifier.sources.docketreview import pending
    with FakeCourtListener() as cl:
        settings = _settings(tmp_path, db_url, cl.api)
        cl.add(398811008, 19, "2027-02-11",
               "Plea hearing may be set for 6/1/2027 if the parties agree.",
               "2027-02-11T10:00:00.000000-08:00")
        assert _fetch(store, settings).ok
        [item] = pending(store, "roe")
        assert (item.number, item.fact["action"], item.fact["date"]) == ("19", "set",
                                                                         "2027-06-01")
        assert "plea-19" not in _events(store)  # never applied silently
        assert source_status(store, settings)[0].review == 1
        cl.edit(398811008, "Plea hearing set for 6/1/2027.")
        assert _fetch(store, settings, NOW + timedelta(minutes=20)).ok
        assert pending(store, "roe") == []


def test_a_new_judge_on_the_docket_is_read_daily_and_not_blamed_on_an_entry(
        tmp_path: Path, db_url: str, store: Store) -> None:
    with FakeCourtListener() as cl:
        settings = _settings(tmp_path, db_url, cl.api)
        assert _fetch(store, settings).ok
        cl.docket["assigned_to_str"] = "Richard Doe"
        rep = _fetch(store, settings, NOW + timedelta(hours=2))
        assert rep.changes == []  # the docket itself is re-read once a day
        rep = _fetch(store, settings, NOW + timedelta(days=1, hours=1))
        assert sorted(c.kind for c in rep.changes) == ["judge_changed"] * 3
        assert all(c.summary.endswith("Jane Roe -> Richard Doe") for c in rep.changes)
        with store.read() as s:
            assert s.exec(select(DocketProvenance).where(
                DocketProvenance.change_id == rep.changes[0].id)).first() is None
