"""``[[sources]]`` validation and the ``notifier sources`` / ``notifier events`` commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from feedserver import FeedServer, Route
from sourcekit import BASE, ics, make_settings

from notifier.cli import main
from notifier.config import load_settings
from notifier.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
# The CLI runs on the real clock: hearings far enough ahead never count as over.
FUTURE = {uid: (title, start.replace("2025", "2031")) for uid, (title, start) in BASE.items()}


@pytest.mark.parametrize(("entry", "message"), [
    ({"name": "a", "url": "ftp://x/y"}, "unsupported URL scheme 'ftp'"),
    ({"name": "a", "url": "https://x/y", "format": "csv"}, "needs a [sources.csv] table"),
    ({"name": "a", "url": "https://x/y", "format": "csv", "csv": {"date": "D"}},
     "needs case = \"<id>\" or a case_number column"),
    ({"name": "a", "url": "https://x/y", "csv": {"date": "D"}}, "only for format = \"csv\""),
    ({"name": "a", "url": "https://x/y", "format": "csv", "case": "c",
      "csv": {"date": "D", "colour": "C"}}, "(name 'a').csv.colour"),
    ({"name": "a", "url": "https://x/y", "format": "csv", "case": "c",
      "csv": {"date": "D", "key": ["kind"]}}, "key field 'kind' is not mapped"),
    ({"name": "a", "url": "https://x/y", "format": "csv", "case": "c",
      "csv": {"date": "D", "status_map": {"Gone": "vanished"}}}, "status_map.Gone"),
    ({"name": "a", "url": "https://x/y", "timezone": "Mars/Base"}, "unknown time zone"),
    ({"name": "a b", "url": "https://x/y"}, "sources[0] (name 'a b').name"),
    ({"name": "a", "url": "https://x/y", "max_change_share": 0}, "max_change_share"),
    ({"name": "a", "url": "https://x/y", "interval": "soon"}, "invalid duration 'soon'"),
    ({"name": "a", "url": "https://x/y", "interval": "0s"}, "interval: must be at least 10s"),
])
def test_bad_source_config_is_reported_with_its_key(tmp_path: Path, entry: dict[str, Any],
                                                    message: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_settings(tmp_path, "sqlite://", entry)
    assert message in str(err.value)
    assert str(err.value).startswith("test.toml")


def test_secrets_in_source_config_errors_are_masked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        make_settings(tmp_path, "sqlite://", {
            "name": "a", "url": "gopher://user:pw@x/y?token=s3cret", "headers": {"A": 1}})
    text = str(err.value)
    assert "s3cret" not in text and "pw" not in text and "gopher://x/…" in text
    assert "x/y" not in text


def test_example_config_documents_every_source_key() -> None:
    from notifier.config.sources import CsvMapping, SourceSettings

    text = (REPO / "config.example.toml").read_text()
    for key in [*SourceSettings.model_fields, *CsvMapping.model_fields]:
        if key != "csv":
            assert f"# {key} =" in text or f"{key} =" in text, key
    assert "[sources.csv]" in text
    settings = load_settings(REPO / "config.example.toml", env={})
    assert settings.sources == []  # commented out: a fresh clone starts with no network


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def config(tmp_path: Path, server: FeedServer) -> Path:
    cfg = tmp_path / "config.toml"
    cal = tmp_path / "calendars"
    cal.mkdir()
    cfg.write_text(f"""
[database]
url = "sqlite:///data/n.db"

[[sources]]
name = "part-99"
url = "{server.url('/p.ics?token=s3cret')}"
case = "people-v-weinstein"
min_hold_events = 2
""")
    return cfg


def run(config: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--config", str(config), *args])


def test_cli_fetch_status_events_and_accept(config: Path, server: FeedServer) -> None:
    server.routes["/p.ics"] = Route(body=ics(FUTURE))
    res = run(config, "sources")
    assert res.exit_code == 0 and "part-99" in res.output and "new" in res.output
    assert "s3cret" not in res.output and "token=" not in res.output
    res = run(config, "sources", "fetch", "part-99")
    assert res.exit_code == 0, res.output
    assert "h1@court  Hearing added: Wed 2 Jul 2031 09:30–10:30 EDT" in res.output
    assert "4 change(s) from part-99" in res.output
    res = run(config, "sources", "fetch", "part-99")
    assert res.exit_code == 0 and "part-99: not modified" in res.output
    res = run(config, "events")
    assert res.exit_code == 0 and "SOURCE" in res.output and "source:part-99" in res.output
    res = run(config, "events", "--json")
    assert {e["source"] for e in json.loads(res.output)} == {"source:part-99"}

    server.routes["/p.ics"] = Route(body=ics({"h1@court": FUTURE["h1@court"]}))
    assert "3 event(s) missing" in run(config, "sources", "fetch", "part-99").output
    res = run(config, "sources", "fetch", "part-99")
    assert res.exit_code == 0 and "3 change(s) held" in res.output
    assert "notifier sources accept part-99" in res.output
    res = run(config, "sources")
    assert "held" in res.output and "would be removed" in res.output
    status = json.loads(run(config, "sources", "--json").output)[0]
    assert status["status"] == "held" and len(status["held"]) == 3 and not status["healthy"]
    res = run(config, "sources", "accept", "part-99")
    assert res.exit_code == 0 and res.output.count("removed from part-99") == 3
    res = run(config, "sources", "accept", "part-99")
    assert res.exit_code == 1 and "has no held changes" in res.output


def test_cli_fetch_error_and_unknown_source(config: Path, server: FeedServer) -> None:
    server.routes["/p.ics"] = Route(status=500)
    res = run(config, "sources", "fetch", "part-99")
    assert res.exit_code == 1
    assert "error: source 'part-99': http://127.0.0.1:" in res.output
    assert "/… answered HTTP 500" in res.output and "s3cret" not in res.output
    assert "p.ics" not in res.output
    assert "stored events unchanged" in res.output
    res = run(config, "sources")
    assert "error: source 'part-99'" in res.output and "failures" in res.output.lower()
    status = json.loads(run(config, "sources", "--json").output)[0]
    assert status["failures"] == 1 and status["next_fetch"] is not None
    res = run(config, "sources", "fetch", "nope")
    assert res.exit_code == 1 and "no source 'nope'" in res.output and "part-99" in res.output


def test_backoff_helper() -> None:
    from notifier.sources import backoff

    src = make_settings(Path("."), "sqlite://", {"name": "a", "url": "x.ics", "interval": "1h",
                                                 "max_backoff": "3h"}).sources[0]
    assert [backoff(src, n) for n in range(4)] == [
        timedelta(hours=1), timedelta(hours=2), timedelta(hours=3), timedelta(hours=3)]
