"""Configuration: lookup order, defaults, ${VAR}, and errors that name file, key and value."""

from __future__ import annotations

import textwrap
from datetime import time, timedelta
from pathlib import Path

import pytest

from notifier.config import Settings, load_settings
from notifier.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return p


def test_builtin_defaults_equal_the_example_file() -> None:
    example = load_settings(REPO / "config.example.toml", env={})
    assert example.model_dump() == Settings().model_dump()
    assert example.reminders.offsets == [timedelta(days=7), timedelta(days=1), timedelta(hours=2)]
    assert example.reminders.date_only_time == time(9, 0)
    assert example.server.port == 8080


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}).origin == "<built-in defaults>"
    write(tmp_path, "[server]\nport = 1001\n")
    assert load_settings(env={}).server.port == 1001
    envfile = write(tmp_path, "[server]\nport = 1002\n", "env.toml")
    assert load_settings(env={"NOTIFIER_CONFIG": str(envfile)}).server.port == 1002
    explicit = write(tmp_path, "[server]\nport = 1003\n", "explicit.toml")
    got = load_settings(explicit, env={"NOTIFIER_CONFIG": str(envfile)})
    assert got.server.port == 1003


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    sub = tmp_path / "etc"
    sub.mkdir()
    cfg = write(sub, '[database]\nurl = "sqlite:///db/n.db"\n[calendars]\npaths = ["cals"]\n')
    s = load_settings(cfg, env={})
    assert s.database_url() == f"sqlite:///{sub / 'db' / 'n.db'}"
    assert s.calendar_folders() == [("cals", sub / "cals")]


def test_env_substitution(tmp_path: Path) -> None:
    cfg = write(tmp_path, """
        [[channels]]
        name = "slack"
        url = "${HOOK}"
        """)
    s = load_settings(cfg, env={"HOOK": "slack://a/b/c"})
    assert s.channels[0].url.get_secret_value() == "slack://a/b/c"
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env={})
    msg = str(e.value)
    assert str(cfg) in msg and "channels[0].url" in msg and "${HOOK}" in msg


@pytest.mark.parametrize(("text", "expected"), [
    ("[server]\nprot = 80\n", "unknown key 'server.prot'"),
    ("colour = 1\n", "unknown key 'colour'"),
    ('[reminders]\noffsets = ["7d", "3x"]\n', "reminders.offsets[1]: invalid duration '3x'"),
    ('[reminders]\ndate_only_time = "25:00"\n', "'25:00'"),
    ('[server]\nport = "eighty"\n', "server.port"),
    ('[server]\nbase_url = "localhost"\n', "base_url 'localhost' must start with http"),
    ('[[channels]]\nname = "a"\nurl = "x://"\nnotify = ["sms"]\n',
     "channels[0] (name 'a').notify[0]"),
    ('[[channels]]\nname = "a"\nurl = "x://"\n[[channels]]\nname = "a"\nurl = "y://"\n',
     "duplicate name 'a'"),
])
def test_errors_name_file_key_and_value(tmp_path: Path, text: str, expected: str) -> None:
    cfg = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env={})
    assert str(cfg) in str(e.value)
    assert expected in str(e.value)


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    cfg = write(tmp_path, "[server]\nport = 80\nhost = \n")
    with pytest.raises(ConfigError, match=r"config\.toml:3: invalid TOML: .*quoted.*column 8"):
        load_settings(cfg, env={})


def test_channel_url_is_never_echoed_in_errors(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[[channels]]\nname = "a"\nurl = ["slack://SECRET-TOKEN"]\n')
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env={})
    assert "SECRET-TOKEN" not in str(e.value)
    assert "channels[0] (name 'a').url" in str(e.value)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read config file .*nope\.toml"):
        load_settings(tmp_path / "nope.toml", env={})


def test_source_case_all_is_reserved(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[[sources]]\nname = "s"\nurl = "https://c.example/x.ics"\n'
                'case = "all"\n')
    with pytest.raises(ConfigError, match="case id 'all' is reserved"):
        load_settings(cfg, env={})
