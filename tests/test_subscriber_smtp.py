"""Subscriber emails over one kept SMTP connection: a real aiosmtpd server (plain,
STARTTLS with login, implicit TLS), the real dispatcher over a real SQLite file.

The server scripts refusals and dropped connections; every test checks what arrived
(each address exactly once), the rows' outcomes and their delivery history.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import ssl
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult
from apprise.plugins.email import NotifyEmail
from channelkit import free_port
from sqlalchemy import insert
from sqlmodel import col, select

from notifier.config import Settings, parse_settings
from notifier.notify.dispatch import Dispatcher, Stats
from notifier.notify.outbox import change_hook
from notifier.notify.subscriptions.compose import Composer
from notifier.notify.subscriptions.smtp import SmtpMailer
from notifier.store import Store
from notifier.store.models import Delivery, Notification
from notifier.store.subscribers import Subscriber, Subscription
from notifier.tracking.sync import sync_calendars

BASE = "https://court.example.org"


class Server:
    """aiosmtpd on 127.0.0.1 counting the connections that carry mail; ``on_mail``,
    ``on_rcpt`` and ``on_data`` may answer instead of the default 250 (return a
    reply) or drop the connection."""

    def __init__(self, **controller: Any) -> None:
        self.mails: list[Message] = []
        self.sessions: list[Any] = []  # one per connection that sent a MAIL command
        self.logins: list[str] = []
        self.on_mail: Callable[[SMTP, int], str | None] = lambda server, k: None
        self.on_rcpt: Callable[[str], str | None] = lambda address: None
        self.on_data: Callable[[SMTP, int], str | None] = lambda server, k: None
        self.mail_commands = 0
        self.lock = threading.Lock()
        self.port = free_port()
        outer = self

        class Handler:
            async def handle_MAIL(self, server: SMTP, session: Any, envelope: Any,
                                  address: str, options: list[str]) -> str:
                outer.mail_commands += 1
                if not any(session is seen for seen in outer.sessions):
                    outer.sessions.append(session)
                reply = outer.on_mail(server, outer.mail_commands)
                if reply is not None:
                    return reply
                envelope.mail_from = address
                return "250 OK"

            async def handle_RCPT(self, server: SMTP, session: Any, envelope: Any,
                                  address: str, options: list[str]) -> str:
                reply = outer.on_rcpt(address)
                if reply is not None:
                    return reply
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
                reply = outer.on_data(server, len(outer.mails) + 1)
                if reply is not None:
                    return reply
                with outer.lock:
                    outer.mails.append(message_from_bytes(envelope.content))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **controller)

    @property
    def connections(self) -> int:
        return len(self.sessions)

    def to(self, address: str) -> list[Message]:
        return [m for m in self.mails if m["To"] == address]

    def __enter__(self) -> Server:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def close_after_reply(server: SMTP) -> None:
    """Close the connection once the reply being written has gone out (as a server
    closing after a ``421``)."""
    asyncio.get_running_loop().call_soon(server.transport.close)


@contextmanager
def followers(tmp_path: Path, url: str, addresses: list[str]) -> Iterator[tuple[Store,
                                                                                Settings]]:
    """A case followed by ``addresses`` whose hearing just moved: one change alert
    row per follower, pending on channel ``subscribers``."""
    cal = tmp_path / "calendars"
    cal.mkdir()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=20)

    def write(at: datetime) -> None:
        (cal / "c.toml").write_text(
            '[case]\nid = "people-v-doe"\ntitle = "People v. Doe"\ntimezone = "UTC"\n\n'
            '[[events]]\nid = "h"\nkind = "hearing"\ntitle = "Bail hearing"\n'
            f'start = {at:%Y-%m-%dT%H:%M:%SZ}\n', encoding="utf-8")

    write(start)
    settings = parse_settings({
        "database": {"url": f"sqlite:///{tmp_path / 'n.db'}"},
        "calendars": {"paths": [str(cal)]},
        "server": {"base_url": BASE},
        "subscriptions": {"enabled": True, "secret": "s" * 40, "offsets": ["1d"],
                          "email": url}}, origin="test", base_dir=tmp_path)
    store = Store(settings.database_url())
    try:
        sync_calendars(store, [("calendars", cal)], hook=change_hook(settings))
        now = datetime.now(UTC)
        with store.write() as s:
            s.execute(insert(Subscriber), [
                {"address": a, "key": secrets.token_urlsafe(24), "paused": False,
                 "created_at": now, "confirmed_at": now} for a in addresses])
            s.execute(insert(Subscription), [
                {"subscriber_id": i, "case_id": "people-v-doe", "lead_s": 0,
                 "state": "active", "created_at": now, "confirmed_at": now}
                for i in s.exec(select(Subscriber.id)).all()])
        write(start + timedelta(days=1))
        sync_calendars(store, [("calendars", cal)], hook=change_hook(settings))
        yield store, settings
    finally:
        store.close()


def rows(store: Store) -> list[Notification]:
    with store.read() as s:
        return list(s.exec(select(Notification).where(
            Notification.channel == "subscribers").order_by(col(Notification.id))).all())


def statuses(store: Store) -> dict[str, int]:
    return dict(Counter(n.status for n in rows(store)))


def history(store: Store, n: Notification) -> list[str]:
    with store.read() as s:
        return [d.outcome for d in s.exec(select(Delivery).where(
            Delivery.notification_id == n.id).order_by(col(Delivery.id))).all()]


def address_of(store: Store, n: Notification) -> str:
    with store.read() as s:
        sub = s.get(Subscriber, json.loads(n.payload)["subscriber"])
        assert sub is not None
        return sub.address


def plain_url(port: int) -> str:
    return f"mailto://127.0.0.1:{port}?from=court@example.org&mode=insecure"


def dispatch_once(store: Store, settings: Settings, **options: Any) -> Stats:
    """One pass of a real dispatcher over the outbox (``options``: its batch size,
    clock...), closed afterwards with its SMTP connection."""
    d = Dispatcher(store, settings, **options)
    try:
        return d.run_once()
    finally:
        d.close()


ADDRESSES = [f"person{i}@example.org" for i in range(6)]


def test_one_connection_carries_the_batch_with_headers_footer_and_ics(tmp_path: Path) -> None:
    with Server() as srv, followers(tmp_path, plain_url(srv.port), ADDRESSES) as (store, st):
        dispatch_once(store, st, batch=4)  # two batches on one connection
        assert statuses(store) == {"sent": len(ADDRESSES)}
        assert srv.connections == 1
        assert sorted(m["To"] for m in srv.mails) == sorted(ADDRESSES)
        for mail in srv.mails:
            subject = str(make_header(decode_header(mail["Subject"])))
            assert subject.startswith("Hearing moved") and subject.endswith("— People v. Doe")
            unsub = " ".join(mail["List-Unsubscribe"].split())
            assert unsub.startswith(f"<{BASE}/follow/unsubscribe?token=") and unsub[-1] == ">"
            assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            assert mail["From"] == "court@example.org" and mail["X-Application"] == "Apprise"
            [text] = [p for p in mail.walk() if p.get_content_type() == "text/plain"]
            body = text.get_payload(decode=True).decode("utf-8")
            assert 'You get this email because you follow "People v. Doe"' in body
            assert f"Stop following this case: {unsub[1:-1]}" in body
            [ics] = [p for p in mail.walk() if p.get_content_type() == "text/calendar"]
            assert ics.get_filename() == "event.ics"
            assert b"BEGIN:VEVENT" in ics.get_payload(decode=True)
        for n in rows(store):
            assert n.status == "sent" and history(store, n) == ["sent"]


def test_a_refused_recipient_fails_its_row_only_and_the_connection_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = ADDRESSES[2]
    with Server() as srv, followers(tmp_path, plain_url(srv.port), ADDRESSES) as (store, st):
        srv.on_rcpt = lambda address: f"550 5.1.1 <{address}>: no such user" \
            if address == bad else None
        dispatch_once(store, st, batch=50)
        assert statuses(store) == {"sent": len(ADDRESSES) - 1, "dead": 1}
        assert srv.connections == 1  # RSET, not a new connection
        assert sorted(m["To"] for m in srv.mails) == sorted(set(ADDRESSES) - {bad})
        [dead] = [n for n in rows(store) if n.status == "dead"]
        assert address_of(store, dead) == bad and history(store, dead) == ["dead"]
        assert dead.last_error is not None and "550" in dead.last_error
        assert "permanent" in dead.last_error and bad not in dead.last_error
        assert "p***@e***.org" in dead.last_error
    assert bad not in caplog.text


def test_dropped_connections_lose_nothing_and_send_nothing_twice(tmp_path: Path) -> None:
    with Server() as srv, followers(tmp_path, plain_url(srv.port), ADDRESSES) as (store, st):
        # The 3rd MAIL gets "421" and the connection closes (as a server limiting
        # messages per connection); the 5th message's data is cut off unanswered.
        def on_mail(server: SMTP, k: int) -> str | None:
            if k == 3:
                close_after_reply(server)
                return "421 4.7.0 too many messages, closing"
            return None

        def on_data(server: SMTP, k: int) -> str | None:
            if k == 5 and srv.connections == 2:
                server.transport.abort()
                return "250 OK"  # never reaches the client
            return None

        srv.on_mail, srv.on_data = on_mail, on_data
        dispatch_once(store, st, batch=50)
        assert statuses(store) == {"sent": len(ADDRESSES) - 1, "failed": 1}
        [failed] = [n for n in rows(store) if n.status == "failed"]
        assert history(store, failed) == ["retry"] and failed.next_attempt_at is not None
        cut = address_of(store, failed)
        assert srv.to(cut) == []
        # Its retry, once due, arrives; nothing else is sent again.
        later = failed.next_attempt_at + timedelta(seconds=1)
        second = dispatch_once(store, st, clock=lambda: later)
        assert (second.sent, second.handled) == (1, 1)
        assert statuses(store) == {"sent": len(ADDRESSES)}
        assert sorted(m["To"] for m in srv.mails) == sorted(ADDRESSES)  # each once
        assert srv.connections == 4  # first, after the 421, after the cut, the retry's
        for n in rows(store):
            assert n.status == "sent"
            assert history(store, n) == (["retry", "sent"] if n.id == failed.id else ["sent"])


def test_a_server_that_closed_the_idle_connection_is_reconnected_to(tmp_path: Path) -> None:
    with Server() as srv:
        mailer = SmtpMailer(plain_url(srv.port))
        try:
            mailer.send("a@example.org", "one", "first", {})
            # The server drops the kept connection while it idles (its timeout).
            srv.on_mail = lambda server, k: (server.transport.abort(), "250 OK")[1] \
                if k == 2 else None
            mailer.send("b@example.org", "two", "second", {})
        finally:
            mailer.close()
        assert [m["To"] for m in srv.mails] == ["a@example.org", "b@example.org"]
        assert srv.connections == 2 and mailer.connections == 2


def test_connection_refused_is_transient_and_masks_the_address() -> None:
    mailer = SmtpMailer(plain_url(free_port()))
    with pytest.raises(Exception) as err:
        mailer.send("jane.doe@example.org", "t", "b", {})
    assert getattr(err.value, "permanent", None) is False
    assert "jane.doe" not in str(err.value) and "127.0.0.1" in str(err.value)


def test_composed_like_apprise_for_a_url_with_cc_bcc_reply_to_and_headers() -> None:
    url = ("mailtos://user:pw@smtp.example.org?from=Court%20Clerk%20%C3%89<court@example.org>"
           "&cc=Ed<ed@example.org>&bcc=audit@example.org&reply=desk@example.org&+X-Team=n%C3%A9ws")
    plugin = NotifyEmail(**NotifyEmail.parse_url(url))
    composer = Composer(plugin)
    title = "Hearing moved: Wed 2 Jul 2025 → Wed 9 Jul 2025 — People v. Doe, a long title here"
    args = ("jane@example.org", title, "Body é\n\n--\nfooter\n",
            {"List-Unsubscribe": f"<{BASE}/follow/unsubscribe?token={'t' * 60}>"},
            [("event.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text/calendar")])
    ours_to, ours = composer.compose(*args)
    composer.by_apprise = True
    theirs_to, theirs = composer.compose(*args)
    assert sorted(ours_to) == sorted(theirs_to)
    assert "audit@example.org" in ours_to and "audit@example.org" not in ours  # Bcc
    a, b = message_from_bytes(ours.encode()), message_from_bytes(theirs.encode())
    skip = {"Message-ID", "Date", "Content-Type"}
    assert [(k, v) for k, v in a.items() if k not in skip] == \
        [(k, v) for k, v in b.items() if k not in skip]
    assert a.get_content_type() == b.get_content_type() == "multipart/mixed"
    parts = [[(p.get_content_type(), p.get_filename(), p.get_payload(decode=True))
              for p in m.walk() if not p.is_multipart()] for m in (a, b)]
    assert parts[0] == parts[1]


def _certificate(tmp_path: Path) -> ssl.SSLContext:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
                   check=True, capture_output=True, timeout=60)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return ctx


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None,
                                   reason="the openssl command makes the test certificate")


def _login(logins: list[str]) -> Callable[..., AuthResult]:
    def check(server: Any, session: Any, envelope: Any, mechanism: str,
              auth_data: Any) -> AuthResult:
        ok = auth_data.login == b"clerk" and auth_data.password == b"s3cret"
        if ok:
            logins.append(auth_data.login.decode())
        return AuthResult(success=ok)
    return check


@needs_openssl
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_modes_with_login_reuse_one_connection(tmp_path: Path, mode: str) -> None:
    ctx = _certificate(tmp_path)
    logins: list[str] = []
    kw: dict[str, Any] = {"authenticator": _login(logins), "auth_required": True}
    # aiosmtpd offers AUTH on implicit TLS only when told it need not see STARTTLS.
    kw.update({"tls_context": ctx, "require_starttls": True} if mode == "starttls"
              else {"ssl_context": ctx, "auth_require_tls": False})
    with Server(**kw) as srv:
        url = (f"mailtos://clerk:s3cret@127.0.0.1:{srv.port}?from=court@example.org"
               f"&mode={mode}&verify=no")
        mailer = SmtpMailer(url)
        try:
            for a in ADDRESSES[:3]:
                mailer.send(a, "hello", "body", {})
        finally:
            mailer.close()
        assert [m["To"] for m in srv.mails] == ADDRESSES[:3]
        assert srv.connections == 1 and logins == ["clerk"]
        # Certificates are verified unless the URL says verify=no: this one is self-signed.
        strict = SmtpMailer(url.replace("&verify=no", ""))
        with pytest.raises(Exception) as err:
            strict.send(ADDRESSES[0], "hello", "body", {})
        assert getattr(err.value, "permanent", None) is False
        assert "CERTIFICATE_VERIFY_FAILED" in str(err.value) and "s3cret" not in str(err.value)
        assert len(srv.mails) == 3
