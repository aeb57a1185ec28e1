"""Shared fixtures: a real SQLite file per test, calendar folders, settings."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pgkit
import pytest

from notifier.config import Settings, parse_settings
from notifier.store import Store

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'notifier.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()


@pytest.fixture
def cal_dir(tmp_path: Path) -> Path:
    d = tmp_path / "calendars"
    d.mkdir()
    return d


WriteCal = Callable[[str, str], Path]


@pytest.fixture
def write_cal(cal_dir: Path) -> WriteCal:
    """write_cal("name.toml", text) writes a calendar file (text is dedented)."""
    def write(name: str, text: str) -> Path:
        p = cal_dir / name
        p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return p
    return write


@pytest.fixture
def folders(cal_dir: Path) -> list[tuple[str, Path]]:
    return [("calendars", cal_dir)]


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on the test PostgreSQL server (skips without one)."""
    if not pgkit.ADMIN_URL:
        pytest.skip(pgkit.SKIP_REASON)
    with pgkit.pg_database() as url:
        yield url


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    s = Store(pg_url)
    yield s
    s.close()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return parse_settings({"database": {"url": db_url}}, origin="test", base_dir=tmp_path)
