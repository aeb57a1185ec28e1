"""Events of a calendar folder or source taken out of the config: kept, reported, pruned."""

from __future__ import annotations

import logging
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from notifier.cli import main
from notifier.config import load_settings
from notifier.server.scheduler import Engine
from notifier.store import Store
from notifier.store.models import Case, Event, Notification
from notifier.tracking import orphans

SOON = (datetime.now(UTC) + timedelta(days=10)).date()


def _case(case_id: str) -> str:
    return textwrap.dedent(f"""
        [case]
        id = "{case_id}"
        title = "People v. {case_id}"
        timezone = "UTC"
        [[events]]
        id = "h"
        kind = "hearing"
        title = "Hearing"
        date = {SOON}
        """)


def _config(root: Path, folders: list[str], sources: str = "") -> Path:
    cfg = root / "config.toml"
    cfg.write_text(textwrap.dedent(f"""
        [database]
        url = "sqlite:///data/notifier.db"
        [calendars]
        paths = {folders!r}
        [[channels]]
        name = "desk"
        url = "json://127.0.0.1:9/hook"
        """).replace("'", '"') + sources)
    return cfg


def _cli(cfg: Path, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, ["--config", str(cfg), *args])
    if r.exception and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for folder, case_id in (("active", "kept"), ("old", "gone")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"{case_id}.toml").write_text(_case(case_id))
    return tmp_path


def _live(cfg: Path) -> dict[str, str | None]:
    store = Store(load_settings(cfg).database_url())
    try:
        with store.read() as s:
            return {e.case_id: (e.removed_at and "removed") for e in s.exec(select(Event))}
    finally:
        store.close()


def test_a_folder_taken_out_of_the_config_is_reported_then_pruned_on_request(
        root: Path) -> None:
    code, out, _ = _cli(_config(root, ["active", "old"]), "sync")
    assert code == 0 and "2 change(s) from 2 file(s)" in out

    cfg = _config(root, ["active"])  # "old" taken out
    code, out, err = _cli(cfg, "sync")
    assert code == 0 and "0 change(s)" in out
    assert "note: 1 event(s) are kept though their origin is no longer in the config " \
           "(1 from calendar folder 'old'); `notifier sync --prune-unconfigured` removes them" \
           in err
    assert _live(cfg) == {"kept": None, "gone": None}  # nothing removed by itself

    code, out, err = _cli(cfg, "sync", "--prune-unconfigured")
    assert code == 0
    assert "gone/h  Hearing removed from old/gone.toml (calendar folder 'old' no longer " \
           "in the config)" in out
    assert "note:" not in err
    assert _live(cfg) == {"kept": None, "gone": "removed"}
    store = Store(load_settings(cfg).database_url())
    with store.read() as s:
        rows = s.exec(select(Notification).where(Notification.case_id == "gone")).all()
    store.close()
    # the removal is news like any other, and the hearing's reminders are withdrawn
    assert any(n.type == "change" and n.status == "pending" for n in rows)
    assert {n.status for n in rows if n.type == "reminder"} == {"withdrawn"}


def test_a_source_taken_out_of_the_config_counts_too_and_the_daemon_warns(
        root: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = _config(root, ["active"])
    assert _cli(cfg, "sync")[0] == 0
    settings = load_settings(cfg)
    store = Store(settings.database_url())
    now = datetime.now(UTC)
    with store.write() as s:  # what a remote source named "court" left behind
        s.add(Case(id="remote", title="Remote", timezone="UTC", source="source:court"))
        s.add(Event(uid="r1@notifier", case_id="remote", event_id="r1", source="source:court",
                    kind="trial", title="Trial", date=SOON, sort_utc=now + timedelta(days=9),
                    created_at=now, updated_at=now))
    with store.read() as s:
        found = orphans.find(s, settings)
    assert [(o.source, o.events, o.origin) for o in found] == [
        ("source:court", 1, "source 'court'")]

    caplog.set_level(logging.WARNING, logger="notifier.server.scheduler")
    engine = Engine(store, settings, sync=False)
    try:
        engine.start()
    finally:
        engine.shutdown(5)
    assert "1 from source 'court'" in caplog.text and "--prune-unconfigured" in caplog.text
    store.close()

    # configured again: no longer an orphan
    with_source = _config(root, ["active"], sources=textwrap.dedent("""
        [[sources]]
        name = "court"
        url = "http://127.0.0.1:9/court.ics"
        """))
    code, _, err = _cli(with_source, "sync")
    assert code == 0 and "note:" not in err


def test_nested_folders_are_told_apart(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "top.toml").write_text(_case("top"))
    (tmp_path / "a" / "b" / "deep.toml").write_text(_case("deep"))
    assert _cli(_config(tmp_path, ["a", "a/b"]), "sync")[0] == 0
    cfg = _config(tmp_path, ["a"])  # "a/b" taken out: a/b/deep.toml is not in "a"
    code, _, err = _cli(cfg, "sync")
    assert code == 0 and "1 from calendar folder 'a/b'" in err
    assert _live(cfg) == {"top": None, "deep": None}


def test_no_prune_while_a_file_has_errors(root: Path) -> None:
    assert _cli(_config(root, ["active", "old"]), "sync")[0] == 0
    cfg = _config(root, ["active"])
    (root / "active" / "broken.toml").write_text("[case]\nid = \n")
    code, _out, err = _cli(cfg, "sync", "--prune-unconfigured")
    assert code == 1 and "not pruned: fix the files with errors first" in err
    assert _live(cfg) == {"kept": None, "gone": None}
