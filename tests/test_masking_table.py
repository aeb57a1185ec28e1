"""Masking hides secrets and nothing else: a table of realistic channel URLs, source URLs
and log lines, each with the parts that must vanish and the parts that must stay readable.

Every URL is registered as a running daemon would (channels as Apprise URLs, sources
with ``keep_host``), then a log line carrying it goes through :func:`mask`.
"""

from __future__ import annotations

# ruff: noqa: E501  (the table's URLs and log lines read best unbroken)
import io
import logging

import pytest

from notifier.logs import MaskingFilter, mask, register_secret

# (registered URL or None, keep_host, log line, must vanish, must stay readable)
CASES: list[tuple[str | None, bool, str, list[str], list[str]]] = [
    ("slack://T0AAAAAAA/B0BBBBBBB/XXXXsecretXXXXtokenXXXX", False,
     "Slack notification to slack://T0AAAAAAA/B0BBBBBBB/XXXXsecretXXXXtokenXXXX failed",
     ["T0AAAAAAA", "B0BBBBBBB", "XXXXsecretXXXXtokenXXXX"], ["Slack notification to", "failed"]),
    ("https://hooks.slack.com/services/T1CCCCCCC/B1DDDDDDD/slackPathSecret0123456789", False,
     "POST https://hooks.slack.com/services/T1CCCCCCC/B1DDDDDDD/slackPathSecret0123456789 -> 500",
     ["slackPathSecret0123456789", "T1CCCCCCC", "B1DDDDDDD"], ["hooks.slack.com", "500"]),
    ("discord://123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefgh", False,
     "Discord webhook 123456789012345678/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefgh: 429",
     ["AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefgh", "123456789012345678"],
     ["Discord webhook", "429"]),
    ("https://discord.com/api/webhooks/223456789012345678/ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210", False,
     "Sending to discord.com/api/webhooks/223456789012345678/"
     "ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210 timed out after 10 s",
     ["ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210"], ["discord.com/api/webhooks/", "timed out after 10 s"]),
    ("mailtos://notifier:hunter2pass@smtp.court.example.org?to=desk@court.example.org", False,
     "Sent Email to desk@court.example.org via smtp.court.example.org (user notifier, "
     "password hunter2pass)",
     ["hunter2pass", "desk@"], ["***@court.example.org", "smtp.court.example.org",
                                "user notifier", "Sent Email to"]),
    ("mailto://clerk.office:S3cretMailPw@mail.example.net/alerts@chambers.example.net", False,
     "mailto://clerk.office:S3cretMailPw@mail.example.net/alerts@chambers.example.net refused",
     ["S3cretMailPw", "clerk.office:", "alerts@"], ["mail.example.net", "refused", "mailto://"]),
    ("mailtos://smtp.gmail.com?user=bot@example.com&pass=app-pass-xyz1&to=judge.chambers@example.com",
     False, "SMTP AUTH failed for bot@example.com with app-pass-xyz1; rcpt judge.chambers@example.com",
     ["app-pass-xyz1", "bot@", "judge.chambers@"], ["SMTP AUTH failed for", "***@example.com"]),
    ("ntfy://ntfy.example.org/court-alerts?token=tk_abcdef1234567890", False,
     "ntfy POST https://ntfy.example.org/court-alerts?token=tk_abcdef1234567890 -> 401",
     ["tk_abcdef1234567890"], ["ntfy.example.org", "court-alerts", "-> 401"]),
    ("ntfys://alice:ntfyPassw0rd@ntfy.sh/hearings", False,
     "auth for alice failed with ntfyPassw0rd at ntfy.sh/hearings",
     ["ntfyPassw0rd"], ["alice", "ntfy.sh/hearings"]),
    ("json://127.0.0.1:8080/hooks/abc123def456ghi789", False,
     "JSON POST http://127.0.0.1:8080/hooks/abc123def456ghi789 (200)",
     ["abc123def456ghi789"], ["127.0.0.1:8080/hooks/", "(200)"]),
    ("jsons://hooks.internal.example:8443/notifier/b7e1c9d2a4f6?token=jsonSecretToken42", False,
     "posting to hooks.internal.example:8443/notifier/b7e1c9d2a4f6?token=jsonSecretToken42",
     ["b7e1c9d2a4f6", "jsonSecretToken42"], ["hooks.internal.example:8443/notifier/"]),
    ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-100123456789", False,
     "Telegram 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw rejected the message",
     ["AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"], ["Telegram", "rejected the message"]),
    ("pover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@azGDORePK8gMaC0QOYAMyEEuzJnyUi", False,
     "Pushover user uQiRzpo4DXghDmr9QzzfQu27cmVRsG token azGDORePK8gMaC0QOYAMyEEuzJnyUi",
     ["uQiRzpo4DXghDmr9QzzfQu27cmVRsG", "azGDORePK8gMaC0QOYAMyEEuzJnyUi"], ["Pushover user"]),
    ("https://calendar.google.com/calendar/ical/court%40example.org/private-0123456789abcdef/basic.ics",
     True, "fetching https://calendar.google.com/calendar/ical/court%40example.org/"
     "private-0123456789abcdef/basic.ics: 304",
     ["private-0123456789abcdef"], ["calendar.google.com", ": 304"]),
    ("https://feeds.courthouse-demo.net/part99.ics?key=qwertyuiop123", True,
     "source part-99: GET https://feeds.courthouse-demo.net/part99.ics?key=qwertyuiop123 ok",
     ["qwertyuiop123"], ["feeds.courthouse-demo.net", "source part-99"]),
    ("https://court:C0urtFeedPw@outlook.office365.com/owa/calendar/4f9a2b7c8d1e/reachcalendar.ics",
     True, "https://court:C0urtFeedPw@outlook.office365.com/owa/calendar/4f9a2b7c8d1e/x failed",
     ["C0urtFeedPw", "4f9a2b7c8d1e"], ["outlook.office365.com", "failed"]),
    (None, False, 'INFO:     127.0.0.1:38692 - "GET /calendars/all.ics?token=Zt8pQ2xLm4Nv HTTP/1.1" 200',
     ["Zt8pQ2xLm4Nv"], ["127.0.0.1:38692", "GET /calendars/all.ics", "200"]),
    (None, False, "notifier 0.1.0: serving http://0.0.0.0:8080/ (base URL http://localhost:8080); "
     "calendars: calendars; channels: email, slack",
     [], ["notifier 0.1.0: serving http://0.0.0.0:8080/", "localhost:8080", "channels: email, slack"]),
    (None, False, "fetch https://reader:pa55word@court.example.org/feed.ics failed",
     ["pa55word", "reader"], ["court.example.org/feed.ics"]),
    (None, False, "callback https://api.example.org/v1/hook?api_key=ak_live_998877&case=c1",
     ["ak_live_998877"], ["api.example.org/v1/hook", "case=c1"]),
    (None, False, 'INFO:     10.0.3.17:51515 - "GET /cases/people-v-weinstein HTTP/1.1" 200 OK',
     [], ["10.0.3.17:51515", "/cases/people-v-weinstein", "200 OK"]),
    (None, False, "Bearer token in header: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9abc123 sent",
     [], ["Authorization: Bearer"]),  # readable header name; the token is registered below
]


@pytest.mark.parametrize(("url", "keep_host", "line", "gone", "kept"), CASES,
                         ids=[str(i) for i in range(len(CASES))])
def test_secret_parts_masked_everything_else_readable(
        url: str | None, keep_host: bool, line: str, gone: list[str], kept: list[str]) -> None:
    if url is not None:
        register_secret(url, keep_host=keep_host)
    # Register everything of the table first, as a daemon with all of them would:
    # one channel's parts must not mask another's readable words.
    for other, other_keep, *_ in CASES:
        if other is not None:
            register_secret(other, keep_host=other_keep)
    out = mask(line)
    for secret in gone:
        assert secret not in out, out
    for word in kept:
        assert word in out, out


def test_header_token_masked_but_not_the_word_bearer() -> None:
    from pathlib import Path

    from notifier.config import parse_settings
    from notifier.logs import register_settings_secrets

    settings = parse_settings({"sources": [{
        "name": "court", "url": "https://court.example.org/feed.ics", "case": "c1",
        "headers": {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9abc123"}}]},
        origin="test", base_dir=Path("."))
    register_settings_secrets(settings)
    out = mask("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9abc123 sent")
    assert "eyJhbGciOiJIUzI1NiJ9abc123" not in out
    assert out.startswith("Authorization: Bearer ")


def test_short_or_common_values_never_mask_words() -> None:
    """Host names, IPs, user names and the product's name stay readable in any line."""
    for url in ("mailtos://notifier:pw@notifier.example.org?to=notifier@example.org",
                "json://localhost:8080/notifier", "json://192.168.1.20/events"):
        register_secret(url)
    line = ("notifier 0.1.0 on notifier.example.org; 192.168.1.20 and localhost:8080 "
            "reached; the notifier events came")
    assert mask(line) == line


def test_handler_masks_third_party_records() -> None:
    register_secret("discord://323456789012345678/QwErTyUiOpAsDfGhJkLzXcVbNm1234567890")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(MaskingFilter())
    log = logging.getLogger("apprise.test")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("Failed to send Discord notification to %s: %s", "discord.com",
                    "https://discord.com/api/webhooks/323456789012345678/"
                    "QwErTyUiOpAsDfGhJkLzXcVbNm1234567890")
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert "QwErTyUiOpAsDfGhJkLzXcVbNm1234567890" not in text
    assert "Failed to send Discord notification to discord.com" in text
