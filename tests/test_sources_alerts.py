"""``notifier sources fetch`` and ``accept`` write change alerts and reminders, like ``sync``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sourcekit import BASE, ics

from notifier.cli import main

# The CLI runs on the real clock: hearings a few days ahead, so reminders are planned
# (within the 14-day horizon) and nothing counts as over.
_DAY = datetime.now(UTC) + timedelta(days=5)
FUTURE = {uid: (title, f"{_DAY + timedelta(days=n):%Y%m%d}T{start[-6:]}")
          for n, (uid, (title, start)) in enumerate(BASE.items())}


def _config(tmp_path: Path, db_url: str) -> Path:
    (tmp_path / "calendars").mkdir()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[database]
url = "{db_url}"

[[sources]]
name = "part-99"
url = "part99.ics"
case = "people-v-weinstein"
min_hold_events = 2
""", encoding="utf-8")
    return cfg


def _run(cfg: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["--config", str(cfg), *args])


def _changes_by_event(cfg: Path) -> dict[str | None, int]:
    """Change alerts per event UID (None: a "Now tracking N events" alert)."""
    res = _run(cfg, "reminders", "--json")
    assert res.exit_code == 0, res.output
    out: dict[str | None, int] = {}
    for n in json.loads(res.output):
        if n["type"] == "change":
            out[n["event_uid"]] = out.get(n["event_uid"], 0) + 1
    return out


def test_cli_fetch_and_accept_write_change_alerts(tmp_path: Path, db_url: str) -> None:
    cfg = _config(tmp_path, db_url)
    feed = tmp_path / "part99.ics"
    feed.write_bytes(ics(FUTURE))
    res = _run(cfg, "sources", "fetch", "part-99")
    assert res.exit_code == 0 and "4 change(s) from part-99" in res.output, res.output
    # The source's first import into the case: one alert for all four, not one each.
    assert _changes_by_event(cfg) == {None: 1}
    reminders = [n for n in json.loads(_run(cfg, "reminders", "--json").output)
                 if n["type"] == "reminder"]
    assert {n["event_uid"] for n in reminders} == set(FUTURE)

    # Three of four drop out: counted missing, then held, then accepted by the operator.
    feed.write_bytes(ics({"h1@court": FUTURE["h1@court"]}))
    assert "3 event(s) missing" in _run(cfg, "sources", "fetch", "part-99").output
    assert "3 change(s) held" in _run(cfg, "sources", "fetch", "part-99").output
    assert _changes_by_event(cfg) == {None: 1}  # nothing applied yet
    res = _run(cfg, "sources", "accept", "part-99")
    assert res.exit_code == 0 and res.output.count("removed from part-99") == 3, res.output
    gone = set(FUTURE) - {"h1@court"}
    assert _changes_by_event(cfg) == {None: 1, **{uid: 1 for uid in gone}}
    # The removed hearings' reminders are withdrawn (re-planned with the changes).
    after = json.loads(_run(cfg, "reminders", "--json").output)
    assert {n["status"] for n in after if n["type"] == "reminder" and n["event_uid"] in gone} \
        == {"withdrawn"}
