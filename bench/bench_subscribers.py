"""One change alert for a case followed by N subscribers: planning and delivery.

- **plan**: a calendar file moves the case's one hearing; the sync (diff, change row,
  the channels' alert and one outbox row per subscriber, in one transaction) is
  timed, median over moves. Target: < 1 s for 10,000 subscribers.
- **many events**: one sync moves ``E`` events of a case followed by ``F`` subscribers
  whose calendar links are in use (a change alert and a stale-calendar follow-up per
  event and subscriber), timed against a floor: the same sync of a case nobody
  follows plus a bare ``sqlite3`` executemany of as many ready-made outbox rows (an
  ``INSERT ... ON CONFLICT DO NOTHING`` into the same table). The followers' part is
  planned with one followers query and one calendar query for the whole sync, not
  two per changed event, and its rows are written at driver speed.
- **deliver**: those rows sent by :meth:`Dispatcher.run_once` through the real
  subscriber mail path (the batch's subscribers and event read once per batch of 50
  and re-checked row by row, text with footer, List-Unsubscribe headers, the event as
  .ics, the message written as Apprise's email plugin writes it, sent over one kept
  SMTP connection, one committed Delivery row each before the next send) to a local
  SMTP server (aiosmtpd, in its own process) versus a bare ``smtplib`` loop sending
  the same personal messages (headers and attachment included), one connection each
  (target: >= 0.8x), and the same loop with one connection for all (how far from it
  we are: the bare loop neither reads nor writes the database, nor renders).
"""

from __future__ import annotations

import secrets
import shutil
import smtplib
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from run import Result
from sqlalchemy import func, insert
from sqlmodel import select

from notifier.config import Settings, parse_settings
from notifier.notify.dispatch import Dispatcher
from notifier.notify.outbox import change_hook
from notifier.store import Store
from notifier.store.models import Delivery, Notification
from notifier.store.subscriber_calendars import SubscriberCalendar
from notifier.store.subscribers import Subscriber, Subscription
from notifier.tracking.sync import sync_calendars

_SMTP = """
import asyncio, sys
from aiosmtpd.controller import Controller
class H:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
c = Controller(H(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print(sys.argv[1], flush=True)
sys.stdin.read()
c.stop()
"""


@contextmanager
def _smtp() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", _SMTP, str(port)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)


def _case(start: datetime) -> str:
    return ('[case]\nid = "bench"\ntitle = "People v. Bench"\ntimezone = "UTC"\n\n'
            '[[events]]\nid = "h"\nkind = "hearing"\ntitle = "Hearing"\n'
            f'start = {start:%Y-%m-%dT%H:%M:%SZ}\n')


def _many(start: datetime, events: int) -> str:
    return '[case]\nid = "bench"\ntitle = "People v. Bench"\ntimezone = "UTC"\n' + "".join(
        f'\n[[events]]\nid = "h{i}"\nkind = "hearing"\ntitle = "Hearing {i}"\n'
        f'start = {start + timedelta(days=i):%Y-%m-%dT%H:%M:%SZ}\n' for i in range(events))


def _setup(tmp: Path, port: int, n: int, events: int = 0,
           in_use: bool = False) -> tuple[Store, Settings, Path, datetime]:
    """A case (one hearing, or ``events`` of them) followed by ``n`` subscribers (with a
    calendar link a client has fetched when ``in_use``)."""
    cal = tmp / "calendars"
    cal.mkdir(parents=True)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)
    (cal / "bench.toml").write_text(_many(start, events) if events else _case(start),
                                    encoding="utf-8")
    settings = parse_settings({
        "database": {"url": f"sqlite:///{tmp / 'n.db'}"},
        "calendars": {"paths": [str(cal)]},
        "server": {"base_url": "https://court.example.org"},
        "subscriptions": {"enabled": True, "secret": "b" * 40, "offsets": ["1d"],
                          "email": f"mailto://127.0.0.1:{port}?from=court@example.org"
                                   "&mode=insecure"}}, origin="bench", base_dir=tmp)
    store = Store(settings.database_url())
    sync_calendars(store, [("calendars", cal)], hook=change_hook(settings))
    now = datetime.now(UTC)
    if not n:
        return store, settings, cal, start
    with store.write() as s:
        s.execute(insert(Subscriber), [
            {"address": f"person{i}@example.org", "key": secrets.token_urlsafe(24),
             "paused": False, "created_at": now, "confirmed_at": now} for i in range(n)])
        ids = [i for i in s.exec(select(Subscriber.id)).all()]
        s.execute(insert(Subscription), [
            {"subscriber_id": i, "case_id": "bench", "lead_s": 0, "state": "active",
             "created_at": now, "confirmed_at": now} for i in ids])
        if in_use:
            s.execute(insert(SubscriberCalendar), [
                {"subscriber_id": i, "nonce": f"n{i}", "token_hash": f"h{i}",
                 "created_at": now, "last_fetch_at": now} for i in ids])
    return store, settings, cal, start


def _plan_many(tmp: Path, port: int, followers: int, events: int, moves: int) -> float:
    """Median time of a sync moving every one of ``events`` events of a case."""
    store, settings, cal, start = _setup(tmp, port, followers, events, in_use=True)
    try:
        times = []
        for k in range(1, moves + 1):
            (cal / "bench.toml").write_text(_many(start + timedelta(hours=k), events),
                                            encoding="utf-8")
            t0 = time.perf_counter()
            sync_calendars(store, [("calendars", cal)], hook=change_hook(settings))
            times.append(time.perf_counter() - t0)
        with store.read() as s:
            rows = s.exec(select(func.count()).select_from(Notification).where(
                Notification.channel == "subscribers")).one()
        assert rows == 2 * followers * events * moves, rows  # an alert and a follow-up each
    finally:
        store.close()
    return statistics.median(times)


def _bare_insert(tmp: Path, n: int) -> float:
    """Seconds for sqlite3 alone to insert ``n`` ready-made outbox rows (the floor's
    writing part): the same table and indexes, values already in their stored form."""
    Store(f"sqlite:///{tmp / 'bare.db'}").close()  # the schema, migrated
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    rows = [(f"sub:{i % 997}:change:{i}", "sub_change", "subscribers", "c/e@notifier",
             "bench", i, now, "pending", 0, now, 0, 0, '{"subscriber": 1}', now, now)
            for i in range(n)]
    con = sqlite3.connect(tmp / "bare.db")
    try:
        t0 = time.perf_counter()
        with con:
            con.executemany(
                "INSERT INTO notification (dedupe_key, type, channel, event_uid, case_id, "
                "change_id, due_at, status, attempts, next_attempt_at, late, urgent, "
                "payload, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING", rows)
        return time.perf_counter() - t0
    finally:
        con.close()


def _plan(store: Store, settings: Settings, cal: Path, start: datetime, moves: int) -> float:
    times = []
    for k in range(1, moves + 1):
        (cal / "bench.toml").write_text(_case(start + timedelta(hours=k)), encoding="utf-8")
        t0 = time.perf_counter()
        sync_calendars(store, [("calendars", cal)], hook=change_hook(settings))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _keep_one_alert(store: Store, n: int) -> None:
    """Leave exactly the last move's ``n`` subscriber rows pending."""
    with store.write() as s:
        last = s.exec(select(func.max(Notification.change_id)).where(
            Notification.type == "sub_change")).one()
        for row in s.exec(select(Notification).where(Notification.type == "sub_change",
                                                     Notification.change_id != last)).all():
            row.status = "withdrawn"
        got = s.exec(select(func.count()).select_from(Notification).where(
            Notification.type == "sub_change", Notification.status == "pending")).one()
        assert got == n, got


def _deliver(store: Store, settings: Settings, n: int) -> float:
    d = Dispatcher(store, settings, batch=50)
    try:
        t0 = time.perf_counter()
        d.run_once()
        secs = time.perf_counter() - t0
    finally:
        d.close()
    with store.read() as s:
        sent = s.exec(select(func.count()).select_from(Notification).where(
            Notification.type == "sub_change", Notification.status == "sent")).one()
        recorded = s.exec(select(func.count()).select_from(Delivery)).one()
    assert sent == n and recorded >= n, (sent, recorded)
    return n / secs


def _messages(n: int) -> list[EmailMessage]:
    out = []
    ics = b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Hearing\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    for i in range(n):
        m = EmailMessage()
        m["From"], m["To"] = "court@example.org", f"person{i}@example.org"
        m["Subject"] = "Hearing moved later: People v. Bench"
        m["List-Unsubscribe"] = f"<https://court.example.org/follow/unsubscribe?token={i}>"
        m["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        m.set_content(f"Hearing moved later.\n\n--\nYou follow People v. Bench. Stop: {i}\n")
        m.add_attachment(ics, maintype="text", subtype="calendar", filename="event.ics")
        out.append(m)
    return out


def _bare(port: int, n: int, *, one_connection: bool) -> float:
    msgs = _messages(n)
    t0 = time.perf_counter()
    if one_connection:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for m in msgs:
                smtp.send_message(m)
    else:
        for m in msgs:
            with smtplib.SMTP("127.0.0.1", port) as smtp:
                smtp.send_message(m)
    return n / (time.perf_counter() - t0)


def run(quick: bool) -> list[Result]:
    n_plan, n_send, moves = (10_000, 300, 3) if quick else (10_000, 10_000, 3)
    events, followers = (300, 30) if quick else (1_000, 100)
    tmp = Path(tempfile.mkdtemp(prefix="bench-subs-"))
    try:
        with _smtp() as port:
            store, settings, cal, start = _setup(tmp / "plan", port, n_plan)
            try:
                plan = _plan(store, settings, cal, start, moves)
            finally:
                store.close()
            store, settings, cal, start = _setup(tmp / "send", port, n_send)
            try:
                _plan(store, settings, cal, start, 1)
                _keep_one_alert(store, n_send)
                bare = _bare(port, n_send, one_connection=False)
                dispatch = _deliver(store, settings, n_send)
                one = _bare(port, n_send, one_connection=True)
            finally:
                store.close()
            alone = _plan_many(tmp / "alone", port, 0, events, moves)
            many = _plan_many(tmp / "many", port, followers, events, moves)
            write = statistics.median(_bare_insert(Path(tempfile.mkdtemp(dir=tmp)),
                                                   2 * events * followers) for _ in range(3))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [
        Result(f"plan one change alert for {n_plan} subscribers", plan * 1000, "ms",
               target="< 1 s (10,000)", ok=plan < 1.0 * max(n_plan, 10_000) / 10_000),
        Result(f"sync moving {events} events, {followers} followers", many * 1000, "ms",
               baseline=(alone + write) * 1000, target="(vs unfollowed sync + sqlite3 insert)"),
        Result(f"deliver them by email ({n_send} msgs, durable)", dispatch, "msg/s",
               baseline=bare, target=">= 0.8x smtplib/conn", ok=dispatch >= 0.8 * bare),
        Result("  same, vs smtplib on one connection", dispatch, "msg/s", baseline=one,
               target="(context)"),
    ]
