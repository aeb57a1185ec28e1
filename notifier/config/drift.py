"""Has the config file changed since the daemon read it? (what SIGHUP reports)

The daemon reads its settings once, at start; SIGHUP re-reads only the calendar
files. Someone who edits ``config.toml`` and sends SIGHUP would otherwise believe the
edit took effect. :func:`reload_note` reads the file again and says which sections
differ from the running settings (a restart applies them), or that the file now has
an error (a restart would fail: better to know before). It names sections and
channel or source names only, never a value: channel URLs carry passwords and tokens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from .settings import Settings, load_settings

_LISTS = {"channels": "[[channels]]", "sources": "[[sources]]"}
_NOT_TOML = ("origin", "base_dir")


def _list_change(key: str, old: list[Any], new: list[Any]) -> str:
    # Items are compared as models: a secret (a channel URL, a token) that changed
    # counts, without its value being dumped anywhere.
    a, b = {i.name: i for i in old}, {i.name: i for i in new}
    parts = []
    if added := sorted(b.keys() - a.keys()):
        parts.append("added " + ", ".join(added))
    if removed := sorted(a.keys() - b.keys()):
        parts.append("removed " + ", ".join(removed))
    if changed := sorted(k for k in a.keys() & b.keys() if a[k] != b[k]):
        parts.append("changed " + ", ".join(changed))
    if not parts:  # the same items in another order
        parts.append("reordered")
    return f"{_LISTS[key]} ({'; '.join(parts)})"


def changed_sections(running: Settings, fresh: Settings) -> list[str]:
    """The config sections whose values differ, in file order, without their values."""
    out = []
    for key in Settings.model_fields:
        old, new = getattr(running, key), getattr(fresh, key)
        if key in _NOT_TOML or old == new:
            continue
        out.append(_list_change(key, old, new) if key in _LISTS else f"[{key}]")
    return out


def reload_note(running: Settings, env: Mapping[str, str] | None = None) -> str | None:
    """What to tell the operator after SIGHUP about the config file, or None when it
    is unchanged (or the daemon runs on built-in defaults)."""
    path = running.origin
    if not path or path.startswith("<"):
        return None
    try:
        fresh = load_settings(path, os.environ if env is None else env)
    except ConfigError as e:
        return (f"{path} now has an error; the running settings are kept, but a restart "
                f"would fail: {e}")
    sections = changed_sections(running, fresh)
    if not sections:
        return None
    return (f"{path} changed since start: {', '.join(sections)}. SIGHUP re-reads only the "
            "calendar files; restart notifier to apply the other settings")
