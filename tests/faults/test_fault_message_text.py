"""Fault suite: hostile event text in messages. Slack (Apprise's plugin against a local
server), a Markdown webhook (as Discord/Mattermost get) and HTML email (local aiosmtpd)."""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path
from typing import Any

import pytest
from channelkit import HttpSink, smtp_server
from conftest import WriteCal
from outboxhelpers import make_settings, utc

from notifier.notify import outbox
from notifier.notify.dispatch import Dispatcher
from notifier.notify.messages import Renderer, context
from notifier.store import Store
from notifier.tracking.sync import sync_calendars

NOW = utc(2025, 6, 20, 12)
DUE_1D = utc(2025, 7, 1, 13, 30)  # the 1d reminder of the 09:30 EDT hearing on 2 July
PING = "<!channel> <!everyone> <!here> <@U12345> <https://evil.example|click me>"
CAL = f"""
[case]
id = "c"
title = "People v. Test @everyone"
court = "Court <!here>"
judge = "Justice <@U99999>"
timezone = "America/New_York"

[[events]]
id = "h"
kind = "hearing"
title = "Hearing {PING} @here"
start = 2025-07-02T09:30:00
location = "Part 99 [click](https://evil.example)"
url = "javascript:alert(document.cookie)"
status = "scheduled"
"""
# What must never reach a Slack payload or a Markdown body raw.
RAW = ["<!channel>", "<!everyone>", "<!here>", "<@U12345>", "<@U99999>",
       "<https://evil.example|click me>", "<https://evil.example|click>", "javascript:"]


def _send(tmp_path: Path, db_url: str, store: Store, write_cal: WriteCal,
          folders: list[tuple[str, Path]], channel: dict[str, Any]) -> None:
    settings = make_settings(tmp_path, db_url, channels=[{**channel, "notify": ["reminder"]}],
                             calendars={"paths": [str(folders[0][1])]},
                             reminders={"offsets": ["1d"]})
    write_cal("c.toml", CAL)
    sync_calendars(store, folders, now=NOW, hook=outbox.change_hook(settings))
    d = Dispatcher(store, settings, clock=lambda: DUE_1D, rng=random.Random(1))
    try:
        assert d.run_once().sent == 1
    finally:
        d.close()


def test_slack_gets_no_mentions_and_no_hidden_links(tmp_path: Path, db_url: str, store: Store,
                                                   write_cal: WriteCal,
                                                   folders: list[tuple[str, Path]],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from apprise.plugins.slack import NotifySlack

    with HttpSink() as sink:
        monkeypatch.setattr(NotifySlack, "webhook_url", f"http://127.0.0.1:{sink.port}/services")
        _send(tmp_path, db_url, store, write_cal, folders,
              {"name": "slack", "url": "slack://T1AAAAAAAA/B1BBBBBBBB/CCCCCCCCCCCCCCCCCCCCCCCC"})
    ((_path, payload),) = sink.requests
    assert isinstance(payload, dict) and payload["mrkdwn"] is True
    (att,) = payload["attachments"]
    for part in (att["title"], att["text"]):
        for raw in RAW:
            assert raw not in part, (raw, part)
    text = att["text"]
    # The text is all there, as Slack shows escaped characters.
    assert "&lt;!channel&gt; &lt;!everyone&gt; &lt;!here&gt; &lt;@U12345&gt;" in text
    assert "&lt;https://evil.example|click me&gt;" in text
    assert "Judge: Justice &lt;@U99999&gt;" in text and "@\u200bhere" in text
    assert "[click](https://evil.example)" in text  # literal: mrkdwn has no [label](url)


def test_markdown_services_get_inert_mass_mentions(tmp_path: Path, db_url: str, store: Store,
                                                   write_cal: WriteCal,
                                                   folders: list[tuple[str, Path]]) -> None:
    with HttpSink() as sink:
        _send(tmp_path, db_url, store, write_cal, folders,
              {"name": "md", "url": sink.json_url(), "format": "markdown"})
    ((_path, payload),) = sink.requests
    assert isinstance(payload, dict)
    body, title = str(payload["message"]), str(payload["title"])
    for raw in RAW:
        assert raw not in body, (raw, body)
    for word in ("@everyone", "@here"):
        assert word not in body and word not in title
    # The title names the case ("People v. Test @everyone"), the body the hearing.
    assert "@\u200bhere" in body and "@\u200beveryone" in title
    assert r"\<@U12345\>" in body and r"\[click\](https://evil.example)" in body


def test_html_email_keeps_no_javascript_link(tmp_path: Path, db_url: str, store: Store,
                                            write_cal: WriteCal,
                                            folders: list[tuple[str, Path]]) -> None:
    with smtp_server() as (port, mails):
        _send(tmp_path, db_url, store, write_cal, folders,
              {"name": "mail",
               "url": f"mailto://127.0.0.1:{port}?from=n@example.com&to=desk@example.com"})
        deadline = time.monotonic() + 5
        while not mails and time.monotonic() < deadline:
            time.sleep(0.02)
    (mail,) = mails
    html = next(p for p in mail.walk() if p.get_content_type() == "text/html")
    text = html.get_payload(decode=True).decode()
    # The one link is the case page's (from base_url), never the event's javascript: url.
    assert "javascript:" not in text.lower()
    assert re.findall(r"<a [^>]*>", text) == ['<a href="http://localhost:8080/cases/c">']
    assert "&lt;!channel&gt;" in text  # autoescaped, shown as text


@pytest.mark.parametrize("url,kept", [
    ("https://court.example.org/case/1", True), ("http://court.example.org/", True),
    ("javascript:alert(1)", False), ("JaVaScRiPt:alert(1)", False),
    ("data:text/html;base64,PHNjcmlwdD4=", False), (" vbscript:x", False),
    ("https://ok.example/\njavascript:x", False), ("//evil.example/x", False)])
def test_only_http_links_reach_any_format(url: str, kept: bool) -> None:
    ctx = context("reminder", {"event": {"title": "H", "url": url, "case_id": "c"}},
                  due=NOW, now=NOW)
    r = Renderer()
    for fmt in ("html", "markdown", "text"):
        _title, body = r.render("x", "reminder", ctx, fmt)
        assert ("court.example.org" in body) is kept, (fmt, body)
        assert "javascript" not in body.lower() and "data:" not in body, (fmt, body)


def test_a_channel_text_template_used_for_markdown_is_escaped(tmp_path: Path) -> None:
    (tmp_path / "reminder.txt.j2").write_text("{{ event.title }}\n")
    ctx = context("reminder", {"event": {"title": "<!channel> @everyone [x](https://e.example)"}},
                  due=NOW, now=NOW)
    _t, body = Renderer({"mine": tmp_path}).render("mine", "reminder", ctx, "markdown")
    assert body == "\\<!channel\\> @\u200beveryone \\[x\\](https://e.example)"
    assert json.dumps(body)  # plain str
