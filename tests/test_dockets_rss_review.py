"""PACER RSS docket sources (a local HTTP server serving a court's feed), the review
commands, and `notifier sources fetch` on a CourtListener docket with the real extractor."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from docketkit import HERE, TOKEN, FakeCourtListener
from feedserver import FeedServer, Route
from sqlmodel import select

from notifier.cli import main
from notifier.config import parse_settings
from notifier.sources import fetch_source
from notifier.store import Store
from notifier.store.models import Event

RSS = (HERE / "pacer.rss").read_bytes()


@pytest.fixture
def court() -> Iterator[FeedServer]:
    srv = FeedServer().start()
    srv.routes["/cgi-bin/rss_outside.pl"] = Route(body=RSS, content_type="application/rss+xml")
    yield srv
    srv.stop()


def _live(store: Store, key: str) -> dict[str, tuple[str, str, str, str | None]]:
    with store.read() as s:
        return {e.event_id: (e.case_id, e.kind, e.status,
                             e.start_utc.isoformat() if e.start_utc else None)
                for e in s.exec(select(Event).where(Event.source == key)).all()}


def test_pacer_rss_reads_only_the_configured_case(tmp_path: Path, db_url: str, store: Store,
                                                  court: FeedServer) -> None:
    settings = parse_settings({
        "database": {"url": db_url}, "calendars": {"paths": []},
        "sources": [{"name": "nysd", "format": "pacer-rss",
                     "url": court.url("/cgi-bin/rss_outside.pl"),
                     "case_numbers": ["1:26-cr-00123"], "timezone": "America/New_York"}]},
        origin="test.toml", base_dir=tmp_path, env={})
    src = settings.sources[0]
    rep = fetch_source(store, src, hook=None)
    assert rep.ok, rep.error
    events = _live(store, "source:nysd")
    # The Acme case in the same feed is ignored; the reset of a sentencing never seen
    # set is added as set; the minute entry has no number, so its id is a digest.
    assert events.pop("conference-14") == ("1-26-cr-00123", "conference", "scheduled",
                                           "2027-05-04T14:00:00+00:00")
    [(sid, sentencing)] = events.items()
    assert sid.startswith("sentencing-") and sentencing == (
        "1-26-cr-00123", "sentencing", "scheduled", "2027-10-20T18:30:00+00:00")
    with store.read() as s:
        from notifier.store.models import Case
        case = s.get(Case, "1-26-cr-00123")
        assert case is not None and case.title == "USA v. Roe"
    # The same feed again (a 304 now): nothing changes; the case keeps its title.
    rep = fetch_source(store, src, hook=None)
    assert rep.ok and rep.changes == []
    assert court.requests[-1][1].get("If-None-Match")
    court.routes["/cgi-bin/rss_outside.pl"] = Route(body=b"<html>maintenance</html",
                                                    content_type="text/html")
    rep = fetch_source(store, src, hook=None)
    assert rep.status == "error" and "not an RSS feed" in (rep.error or "")
    assert _live(store, "source:nysd") == {"conference-14": _live(store, "source:nysd")[
        "conference-14"], sid: sentencing}


def _cli(cfg: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--config", str(cfg), *args], env={"CL_TOKEN": TOKEN})


def _config(tmp_path: Path, db_url: str, api: str) -> Path:
    (tmp_path / "calendars").mkdir()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[database]
url = "{db_url}"

[[sources]]
name = "roe"
format = "courtlistener"
url = "{api}"
docket = "68571705"
token = "${{CL_TOKEN}}"
case = "us-v-roe"
timezone = "America/New_York"
""", encoding="utf-8")
    return cfg


def test_cli_fetch_with_the_real_extractor_then_review_accept_and_reject(
        tmp_path: Path, db_url: str, store: Store) -> None:
    with FakeCourtListener() as cl:
        # Filed a week before the hearing it says was held: the rules are not sure of it.
        cl.add(398811006, 18, "2027-02-20", "Minute Entry: Status hearing held on 2/27/2027.",
               "2027-02-20T16:00:00.000000-08:00")
        cl.add(398811007, 19, "2027-02-27", "Jury Trial continued from 3/1/2027 to 4/12/2027.",
               "2027-02-27T16:05:00.000000-08:00")
        cfg = _config(tmp_path, db_url, cl.api)
        res = _cli(cfg, "sources", "fetch", "roe")
        assert res.exit_code == 0, res.output
        assert "3 change(s) from roe" in res.output
        assert "docket entry 19, filed 2027-02-27: “Jury Trial continued from 3/1/2027 to " \
               "4/12/2027”" in res.output
        assert TOKEN not in res.output
        res = _cli(cfg, "sources", "--json")
        [st] = json.loads(res.output)
        assert st["format"] == "courtlistener" and st["healthy"] and st["events"] == 3
        assert TOKEN not in res.output

        # What the rules were not sure of waits for review, and is not applied.
        res = _cli(cfg, "dockets", "review", "roe", "--json")
        assert res.exit_code == 0, res.output
        items = json.loads(res.output)
        uncertain = [i for i in items if i["action"] == "held"]
        assert uncertain and uncertain[0]["entry_number"] == "18"
        assert uncertain[0]["quote"] in uncertain[0]["entry_text"]
        res = _cli(cfg, "dockets", "review")
        assert res.exit_code == 0 and "held" in res.output and "dockets accept ID" in res.output

        # Accepting applies it at once; a held hearing with no such event matches
        # nothing, so it changes nothing, and it is no longer pending.
        res = _cli(cfg, "dockets", "accept", str(uncertain[0]["id"]))
        assert res.exit_code == 0, res.output
        assert f"fact {uncertain[0]['id']} accepted" in res.output
        res = _cli(cfg, "dockets", "review", "roe", "--json")
        assert all(i["id"] != uncertain[0]["id"] for i in json.loads(res.output))
        for i in json.loads(res.output):
            assert _cli(cfg, "dockets", "reject", str(i["id"])).exit_code == 0
        assert _cli(cfg, "dockets", "review").output.strip() == "nothing to review"
        res = _cli(cfg, "dockets", "review", "nope")
        assert res.exit_code == 1 and "no docket source 'nope'" in res.output
        res = _cli(cfg, "dockets", "accept", "9999")
        assert res.exit_code == 1 and "no review item 9999" in res.output

        # History quotes the entry behind each change.
        res = _cli(cfg, "history", "us-v-roe/trial-16")
        assert res.exit_code == 0 and "(docket entry 19, filed 2027-02-27: “Jury" in res.output
        res = _cli(cfg, "history", "us-v-roe/trial-16", "--json")
        [added] = json.loads(res.output)
        assert "“Jury Trial continued from 3/1/2027 to 4/12/2027”" in added["summary"]
