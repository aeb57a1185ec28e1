"""Secrets from the configuration never reach a log line, in text or JSON format."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from notifier.config import parse_settings
from notifier.logs import JsonFormatter, MaskingFilter, mask, register_settings_secrets

SLACK = "slack://T0AAAAAAA/B0BBBBBBB/XXXXsecretXXXXtokenXXXX"
FEED = "https://feeds.courthouse-demo.net/private-0123456789abcdef/basic.ics?key=qwertyuiop123"


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return parse_settings({
        "channels": [{"name": "slack", "url": SLACK}],
        "sources": [{"name": "court", "url": FEED, "case": "c1",
                     "headers": {"Authorization": "Bearer abcdefgh12345678"}}],
    }, origin="test", base_dir=tmp_path)


def test_registered_secrets_are_masked(settings) -> None:  # type: ignore[no-untyped-def]
    register_settings_secrets(settings)
    line = mask(f"sending to {SLACK} failed; fetching {FEED} with Bearer abcdefgh12345678")
    for secret in ("XXXXsecretXXXXtokenXXXX", "B0BBBBBBB", "private-0123456789abcdef",
                   "qwertyuiop123", "abcdefgh12345678"):
        assert secret not in line
    assert "feeds.courthouse-demo.net" in line  # source hosts stay readable


@pytest.mark.parametrize("formatter", [logging.Formatter("%(message)s"), JsonFormatter()])
def test_every_handler_line_is_masked(settings, formatter) -> None:  # type: ignore[no-untyped-def]
    register_settings_secrets(settings)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(formatter)
    log = logging.getLogger("test.masking")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("apprise said: %s", SLACK)
        try:
            raise ValueError(f"bad url {SLACK}")
        except ValueError:
            log.exception("boom")
        log.warning("user:pass in https://alice:hunter2pass@court.example.org/x?token=abc")
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert "XXXXsecretXXXXtokenXXXX" not in text
    assert "hunter2pass" not in text and "token=abc" not in text
    if isinstance(formatter, JsonFormatter):
        assert all(json.loads(line) for line in text.splitlines() if line.startswith("{"))
