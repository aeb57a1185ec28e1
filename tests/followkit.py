"""A running sign-up setup for the "follow a case by email" tests.

:func:`follow_site` starts a real SMTP server (aiosmtpd), the real web app under
uvicorn on 127.0.0.1 and a real :class:`~notifier.notify.dispatch.Dispatcher`, over a
real SQLite file holding one case with a hearing ``lead`` + a few seconds away.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
from channelkit import free_port, smtp_server
from sqlmodel import func, select
from waiting import wait_for
from webhelpers import LiveServer

from notifier.config import Settings, parse_settings
from notifier.notify.dispatch import Dispatcher
from notifier.notify.outbox import change_hook
from notifier.server.web import create_app
from notifier.store import Store
from notifier.store.models import Notification
from notifier.tracking.sync import sync_calendars

CASE = "people-v-doe"
SECRET = "s" * 40


def case_file(start: datetime) -> str:
    return textwrap.dedent(f"""\
        [case]
        id = "{CASE}"
        title = "People v. Doe"
        timezone = "UTC"

        [[events]]
        id = "hearing"
        kind = "hearing"
        title = "Bail hearing"
        start = {start.strftime("%Y-%m-%dT%H:%M:%SZ")}
        """)


@dataclass
class Site:
    url: str
    settings: Settings
    store: Store
    dispatcher: Dispatcher
    mails: list[Message]
    cal: Path
    start: datetime
    folders: list[tuple[str, Path]] = field(default_factory=list)
    follow: Any = None  # the app's :class:`notifier.server.follow.Follow`

    def stored(self, limit: float = 10) -> None:
        """Wait until every answered sign-up is stored (that happens after the answer)."""
        wait_for(lambda: getattr(self.follow, "unstored", 0) == 0, limit,
                 "the sign-ups to be stored", step=0.01)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, follow_redirects=False)

    def form(self, client: httpx.Client) -> dict[str, str]:
        page = client.get(f"/cases/{CASE}")
        assert page.status_code == 200, page.text
        m = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert m, "the case page has no follow form"
        return {"csrf": m.group(1), "case": CASE, "lead": str(int(timedelta(days=1)
                                                                  .total_seconds()))}

    def sign_up(self, client: httpx.Client, email: str, **over: str) -> httpx.Response:
        data = {**self.form(client), "email": email, **over}
        answer = client.post("/follow", data=data)
        self.stored()
        return answer

    def dispatch_until(self, count: int, what: str, limit: float = 15) -> None:
        def sent() -> bool:
            self.dispatcher.run_once()
            return len(self.mails) >= count
        wait_for(sent, limit, what, step=0.1)

    def drain(self, limit: float = 15) -> None:
        """Dispatch until no subscriber row is due (rows retried later stay waiting)."""
        def idle() -> bool:
            self.dispatcher.run_once()
            with self.store.read() as s:
                return s.exec(select(func.count()).select_from(Notification).where(
                    Notification.channel == "subscribers", Notification.status == "pending",
                    Notification.next_attempt_at <= datetime.now(UTC))).one() == 0
        wait_for(idle, limit, "the subscribers' due rows to be sent", step=0.1)

    def write_case(self, text: str, name: str = "doe.toml") -> None:
        """Replace a calendar file and sync (with the change hook, as the daemon does)."""
        (self.cal / name).write_text(text, encoding="utf-8")
        sync_calendars(self.store, self.folders, hook=change_hook(self.settings))

    def resync(self, start: datetime) -> None:
        self.write_case(case_file(start))

    def to(self, address: str) -> list[Message]:
        return [m for m in self.mails if m["To"] and address in m["To"]]


def confirm(site: Site, client: httpx.Client, address: str, **over: str) -> None:
    """Sign ``address`` up (form fields ``over``), open the confirmation email's link
    and press Confirm."""
    before = len(site.to(address))
    r = site.sign_up(client, address, **over)
    assert r.status_code == 200 and "Check your inbox" in r.text
    site.dispatch_until(len(site.mails) + 1, "the confirmation email")
    press_confirm(client, site.to(address)[before])


def press_confirm(client: httpx.Client, mail: Message) -> None:
    """Open a confirmation email's link and press Confirm."""
    assert subject(mail).startswith("Confirm: follow ")
    url = link(mail, "/follow/confirm")
    page = client.get(url)
    assert page.status_code == 200 and "Confirm" in page.text
    token = url.split("token=", 1)[1]
    done = client.post("/follow/confirm", data={"token": httpx.QueryParams(
        f"token={token}")["token"]})
    assert done.status_code == 200 and "You now follow" in done.text, done.text


def link(mail: Message, path: str) -> str:
    body = body_of(mail)
    m = re.search(r"(http://127\.0\.0\.1:\d+" + re.escape(path) + r"\?token=\S+)", body)
    assert m, f"no {path} link in:\n{body}"
    return m.group(1)


def subject(mail: Message) -> str:
    return str(make_header(decode_header(mail["Subject"])))


def body_of(mail: Message) -> str:
    part: Any = mail
    if mail.is_multipart():
        part = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    data = part.get_payload(decode=True)
    return data.decode(part.get_content_charset() or "utf-8") if data else ""


def follow_of(app: Any) -> Any:
    """The :class:`~notifier.server.follow.Follow` behind ``app``'s sign-up route."""
    return next(r.endpoint.__self__ for r in app.routes
                if getattr(r, "path", None) == "/follow")


@contextmanager
def follow_site(tmp_path: Path, lead_in: timedelta = timedelta(days=1, seconds=4),
                db_url: str | None = None, access_log: bool = False,
                refuse: dict[str, str] | None = None,
                config: dict[str, Any] | None = None, server: dict[str, Any] | None = None,
                **subs: Any) -> Iterator[Site]:
    """The site; ``subs`` are ``[subscriptions]`` keys, ``server`` ``[server]`` keys
    (besides ``base_url``), ``config`` other sections."""
    cal = tmp_path / "calendars"
    cal.mkdir(exist_ok=True)
    start = (datetime.now(UTC) + lead_in).replace(microsecond=0)
    (cal / "doe.toml").write_text(case_file(start), encoding="utf-8")
    port = free_port()
    with smtp_server(refuse) as (smtp_port, mails):
        settings = parse_settings({
            "database": {"url": db_url or f"sqlite:///{tmp_path / 'notifier.db'}"},
            "server": {"base_url": f"http://127.0.0.1:{port}", **(server or {})},
            "subscriptions": {
                "enabled": True, "secret": SECRET, "offsets": ["1d", "7d"],
                "email": f"mailto://127.0.0.1:{smtp_port}?from=court@example.org"
                         "&mode=insecure",
                **subs},
            **(config or {}),
        }, origin="test", base_dir=tmp_path)
        store = Store(settings.database_url())
        folders = [("calendars", cal)]
        sync_calendars(store, folders, hook=change_hook(settings))
        dispatcher = Dispatcher(store, settings)
        app = create_app(settings, store)
        try:
            with LiveServer(app, port=port, access_log=access_log,
                            client_timeout=settings.server.client_timeout.total_seconds(),
                            trusted_proxies=settings.server.trusted_proxies) as srv:
                yield Site(srv.url, settings, store, dispatcher, mails, cal, start, folders,
                           follow_of(app))
        finally:
            dispatcher.close()
            store.close()
