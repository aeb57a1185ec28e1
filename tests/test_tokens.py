"""Private feeds: tokens through the CLI, a real server, the access log, the migration."""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlmodel import SQLModel
from webhelpers import WEINSTEIN, LiveServer, write_config

from notifier.cli import main
from notifier.config import load_settings
from notifier.errors import ConfigError
from notifier.feeds.tokens import redact, verify_token
from notifier.server.web import create_app
from notifier.store import Store
from notifier.tracking.sync import sync_calendars

OTHER = """
[case]
id = "state-v-doe"
title = "State v. Doe"
[[events]]
id = "h"
kind = "hearing"
title = "Hearing"
date = 2025-08-01
"""


@pytest.fixture
def config(tmp_path: Path, db_url: str, cal_dir: Path, write_cal) -> Path:
    shutil.copy(WEINSTEIN, cal_dir / WEINSTEIN.name)
    write_cal("doe.toml", OTHER)
    return write_config(tmp_path / "config.toml", db_url, cal_dir, private=True)


@pytest.fixture
def server(config: Path, store: Store, folders) -> Iterator[LiveServer]:
    assert sync_calendars(store, folders).ok
    with LiveServer(create_app(load_settings(config), store), access_log=True) as srv:
        yield srv


def cli(config: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result.output


def create(config: Path, *extra: str) -> str:
    out = cli(config, "feed", "token", "create", *extra)
    m = re.search(r"secret \(shown only now\): (\S+)", out)
    assert m, out
    assert "https://court.example.org/calendars/" in out and "webcal://court.example.org" in out
    return m.group(1)


def status(srv: LiveServer, path: str, token: str | None = None) -> int:
    params = {"token": token} if token is not None else {}
    return httpx.get(srv.url + path, params=params, timeout=10).status_code


def test_private_feeds_need_a_valid_token(server: LiveServer, config: Path, db_url: str,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    paths = ["/calendars/all.ics", "/calendars/people-v-weinstein.ics", "/",
             "/cases/people-v-weinstein"]
    for p in paths:
        assert status(server, p) == 404
        assert status(server, p, "wrong-token") == 404
    token = create(config, "--label", "newsroom")
    assert len(token) >= 43  # 32 random bytes
    for p in paths:
        assert status(server, p, token) == 200
    index = httpx.get(server.url + "/", params={"token": token}, timeout=10).text
    assert f"calendars/all.ics?token={token}" in index
    # A private feed links to no case page (it would 404 without the subscriber's
    # token, which the shared feed body cannot carry); a public one does.
    feed = httpx.get(server.url + "/calendars/all.ics", params={"token": token}, timeout=10)
    assert "BEGIN:VEVENT" in feed.text and "/cases/" not in feed.text.replace("\r\n ", "")
    assert status(server, "/healthz") == 200

    # Only the hash is stored, and the list never shows the secret.
    db = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    rows = db.execute("SELECT token_hash FROM feedtoken").fetchall()
    db.close()
    assert rows == [(hashlib.sha256(token.encode()).hexdigest(),)]
    listing = cli(config, "feed", "token", "list")
    assert "newsroom" in listing and "active" in listing and token not in listing

    # Revoked: 404 at once, like any wrong token.
    assert "token 1 revoked" in cli(config, "feed", "token", "revoke", "1")
    for p in paths:
        assert status(server, p, token) == 404
    assert "revoked" in cli(config, "feed", "token", "list")

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/calendars/all.ics?token=<redacted>" in logged
    assert token not in logged and token not in caplog.text


def test_case_scoped_token(server: LiveServer, config: Path) -> None:
    token = create(config, "--case", "state-v-doe")
    assert status(server, "/calendars/state-v-doe.ics", token) == 200
    assert status(server, "/cases/state-v-doe", token) == 200
    assert status(server, "/calendars/people-v-weinstein.ics", token) == 404
    assert status(server, "/calendars/all.ics", token) == 404
    index = httpx.get(server.url + "/", params={"token": token}, timeout=10).text
    assert "State v. Doe" in index and "Weinstein" not in index


def test_token_errors(config: Path, store: Store, folders) -> None:
    assert sync_calendars(store, folders).ok
    bad = CliRunner().invoke(main, ["feed", "token", "create", "--config", str(config),
                                    "--case", "nope"])
    assert bad.exit_code == 1 and "no case 'nope'" in bad.output
    missing = CliRunner().invoke(main, ["feed", "token", "revoke", "--config", str(config), "9"])
    assert missing.exit_code == 1 and "no feed token with id 9" in missing.output
    assert verify_token(store, None) is None and verify_token(store, "") is None


def test_redact() -> None:
    assert redact("GET /calendars/all.ics?kind=x&token=abc-_123&y=1") == \
        "GET /calendars/all.ics?kind=x&token=<redacted>&y=1"


def test_feed_config_section(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('[feed]\nprivate = true\ncancelled_days = 7\nrefresh_interval = "6h"\n')
    s = load_settings(p)
    assert s.feed.private and s.feed.cancelled_days == 7
    assert s.feed.refresh_interval.total_seconds() == 6 * 3600
    p.write_text("[feed]\nprivat = true\n")
    with pytest.raises(ConfigError, match=r"unknown key 'feed\.privat'"):
        load_settings(p)
    p.write_text("[feed]\ncancelled_days = -1\n")
    with pytest.raises(ConfigError, match=r"feed\.cancelled_days.*-1"):
        load_settings(p)


def test_feed_token_model_matches_migration(store: Store) -> None:
    assert store.current_revision() == store.head_revision()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                SQLModel.metadata)
    assert diff == []
