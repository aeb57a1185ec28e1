"""Sync in batches: a pass's files applied together give what one-by-one gives, in
a number of statements that does not grow with the number of files (SQLite and
PostgreSQL), and a file that breaks a shared statement fails alone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import notifier.tracking.sync as sync_module
from notifier.config import parse_settings
from notifier.notify import outbox
from notifier.store import Store
from notifier.tracking.sync import SyncReport, sync_calendars

T0 = datetime(2025, 6, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Fresh stores of one kind (PostgreSQL: skipped without a test server)."""
    stores: list[Store] = []
    if request.param == "postgresql":
        import pgkit

        if not pgkit.ADMIN_URL:
            pytest.skip(pgkit.SKIP_REASON)
        with pgkit.pg_database() as first, pgkit.pg_database() as second:
            urls = iter([first, second])
            yield lambda: stores.append(Store(next(urls))) or stores[-1]  # type: ignore[func-returns-value]
            for st in stores:
                st.close()
        return
    n = iter(range(10))
    yield lambda: stores.append(Store(f"sqlite:///{tmp_path / f'db{next(n)}.db'}")) \
        or stores[-1]  # type: ignore[func-returns-value]
    for st in stores:
        st.close()


def case_file(case: str, events: dict[str, str], judge: str = "Justice A") -> str:
    out = [f'[case]\nid = "{case}"\ntitle = "People v. {case}"\njudge = "{judge}"\n'
           'timezone = "America/New_York"\n']
    for eid, body in events.items():
        out.append(f'\n[[events]]\nid = "{eid}"\nkind = "hearing"\ntitle = "Hearing {eid}"\n'
                   f"{body}\n")
    return "".join(out)


def _passes(folder: Path) -> Iterator[None]:
    """Three passes over one folder: first imports; edits, removals, a rename, a
    conflict and a new case; a restored event."""
    folder.mkdir(exist_ok=True)
    a = {"e1": "date = 2025-07-01", "e2": "start = 2025-07-02T09:30:00\nduration = \"1h\"",
         "e3": "date = 2025-07-03", "e4": 'status = "tbd"'}
    (folder / "a.toml").write_text(case_file("ca", a))
    (folder / "b.toml").write_text(case_file("cb", {f"e{i}": f"date = 2025-08-0{i}"
                                                    for i in range(1, 4)}))
    (folder / "c.toml").write_text(case_file("cc", {"e1": "date = 2025-06-01",
                                                    "e2": "date = 2025-06-02"}))
    yield
    edited = {**a, "e1": "date = 2025-07-09", "e3": 'date = 2025-07-03\nstatus = "cancelled"',
              "e5": "date = 2025-09-01"}
    del edited["e2"]
    (folder / "a.toml").write_text(case_file("ca", edited, judge="Justice B"))
    (folder / "b.toml").rename(folder / "d.toml")  # taken over, no change recorded
    (folder / "e.toml").write_text(case_file("cc", {"x": "date = 2025-07-01"}))  # conflict
    (folder / "f.toml").write_text(case_file("cf", {"e1": "date = 2025-07-04",
                                                    "e2": "date = 2025-07-05"}))
    yield
    (folder / "a.toml").write_text(case_file("ca", {**edited, "e2": a["e2"]}, judge="Justice B"))
    yield


def _contents(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row sync writes (outbox rows without their ids: the order they are
    inserted in is not part of the outcome)."""
    out = {}
    with store.engine.connect() as c:
        for table, order in (("event", "uid"), ("change", "id"), ("case", "id")):
            rows = c.execute(sa.text(f'SELECT * FROM "{table}" ORDER BY {order}'))
            out[table] = [tuple(r) for r in rows]
        rows = c.execute(sa.text("SELECT source, size, sha256, problems FROM calendar_file "
                                 "ORDER BY source"))  # (not the times: other files)
        out["calendar_file"] = [tuple(r) for r in rows]
        rows = c.execute(sa.text(
            "SELECT dedupe_key, type, channel, event_uid, case_id, change_id, due_at, status, "
            "payload FROM notification ORDER BY dedupe_key"))
        out["notification"] = [tuple(r) for r in rows]
    return out


def _run(store: Store, folder: Path, tmp: Path) -> list[SyncReport]:
    settings = parse_settings({"channels": [{"name": "desk", "url": "json://127.0.0.1:9/x"}]},
                              origin="test", base_dir=tmp, env={})
    hook = outbox.change_hook(settings)
    reports = []
    for i, _ in enumerate(_passes(folder)):
        reports.append(sync_calendars(store, [("cal", folder)], hook=hook,
                                      now=T0 + timedelta(minutes=i)))
    return reports


def test_batched_sync_writes_what_file_by_file_writes(
        make_store: Callable[[], Store], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    first = make_store()
    together = _run(first, tmp_path / "one", tmp_path)
    calls: list[int] = []

    def refuse(s, specs, now, live):  # type: ignore[no-untyped-def]
        calls.append(len(specs))
        raise RuntimeError("applied one by one instead")

    monkeypatch.setattr(sync_module, "apply_calendars", refuse)
    second = make_store()
    one_by_one = _run(second, tmp_path / "two", tmp_path)
    assert calls == [3, 4, 2]  # every pass went the per-file way (e.toml is read again)
    assert _contents(first) == _contents(second)
    for r1, r2 in zip(together, one_by_one, strict=True):
        assert [(c.id, c.event_uid, c.kind, c.summary) for c in r1.changes] == \
            [(c.id, c.event_uid, c.kind, c.summary) for c in r2.changes]
        assert [str(e) for e in r1.errors] == [str(e) for e in r2.errors]
    assert [sorted({c.kind for c in r.changes}) for r in together] == [
        ["added"], ["added", "cancelled", "judge_changed", "removed", "rescheduled_later"],
        ["judge_changed", "restored"]]  # (e2 was removed under the previous judge)
    assert [str(e) for e in together[1].errors] == [
        "cal/e.toml: case id 'cc' is already defined in cal/c.toml"]


def _statements(store: Store, folder: Path, files: int, tmp: Path) -> int:
    folder.mkdir()
    for i in range(files):
        (folder / f"c{i:03d}.toml").write_text(case_file(
            f"c{i:03d}", {f"e{j}": f"date = 2025-07-{j + 1:02d}" for j in range(5)}))
    settings = parse_settings({"channels": [{"name": "desk", "url": "json://127.0.0.1:9/x"}]},
                              origin="test", base_dir=tmp, env={})
    seen: list[str] = []

    def count(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        r = sync_calendars(store, [("cal", folder)], now=T0, hook=outbox.change_hook(settings))
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    assert r.ok and len(r.changes) == 5 * files
    return len(seen)


def test_statements_do_not_grow_with_the_number_of_files(
        make_store: Callable[[], Store], tmp_path: Path) -> None:
    """No per-file (or per-event) round trips: 3 files or 60, the same statements."""
    few = _statements(make_store(), tmp_path / "few", 3, tmp_path)
    many = _statements(make_store(), tmp_path / "many", 60, tmp_path)
    assert many == few


def test_a_file_breaking_a_shared_statement_fails_alone(store: Store, write_cal,  # type: ignore[no-untyped-def]
                                                        folders) -> None:
    """A statement of the batch fails because of one file's rows (here a trigger in
    the database refuses them): the batch is rolled back and its files are applied
    one by one, so only that file fails and the others are stored."""
    with store.engine.begin() as c:
        c.exec_driver_sql("CREATE TRIGGER no_cursed BEFORE INSERT ON event "
                          "WHEN NEW.title = 'Hearing cursed' BEGIN SELECT RAISE(ABORT, "
                          "'cursed title'); END")
    write_cal("a.toml", case_file("ca", {"e1": "date = 2025-07-01"}))
    write_cal("b.toml", case_file("cb", {"cursed": "date = 2025-07-02"}))
    write_cal("c.toml", case_file("cc", {"e1": "date = 2025-07-03"}))
    r = sync_calendars(store, folders, now=T0)
    assert [c.event_uid for c in r.changes] == ["ca/e1@notifier", "cc/e1@notifier"]
    assert len(r.errors) == 1 and str(r.errors[0]).startswith(
        "calendars/b.toml: could not be applied (IntegrityError: ")
    assert "cursed title" in str(r.errors[0])
    with store.engine.connect() as c:
        assert c.execute(sa.text("SELECT uid FROM event ORDER BY uid")).scalars().all() == \
            ["ca/e1@notifier", "cc/e1@notifier"]
        stamped = c.execute(sa.text("SELECT source, sha256 FROM calendar_file "
                                    "ORDER BY source")).all()
    # b.toml is stamped to match no content: it is read and tried again next pass.
    assert [(src, bool(sha)) for src, sha in stamped] == [
        ("calendars/a.toml", True), ("calendars/b.toml", False), ("calendars/c.toml", True)]
