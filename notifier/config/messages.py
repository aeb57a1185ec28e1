"""Validation errors of the config file as lines a person can act on.

Call :func:`format_errors` with pydantic's ``ValidationError``: each line names the file
and, when the key can be found in the text, its line; the key as a TOML path (list items
by their ``name``); the value (secrets hidden, source URLs masked); for an unknown key the
closest known one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from ..display import closest, mask_url
from ..timeutil import clip
from .base import error_text, known_keys
from .tomltext import KeyLines


def _loc_name(loc: tuple[Any, ...], data: Mapping[str, Any]) -> str:
    """Turn a pydantic error location into a TOML-ish key path, naming list items."""
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                name = node[item].get("name")
                if name:
                    label = f"[{item}] (name {name!r})"
            parts.append(label)
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts)


_SECRET_KEYS = ("url",)


def _unknown_key(loc: tuple[Any, ...], key: str, model: type[BaseModel]) -> str:
    """``unknown key 'server.prot' (did you mean 'server.port'?)``."""
    shown = key if "'" in key else f"'{key}'"  # a named list item quotes its name
    close = closest(str(loc[-1]), known_keys(model, loc[:-1]))
    if close is None:
        return f"unknown key {shown}"
    if all(isinstance(p, str) for p in loc):
        close = ".".join([*loc[:-1], close])
    return f"unknown key {shown} (did you mean '{close}'?)"


def format_errors(err: ValidationError, data: Mapping[str, Any], origin: str,
                  text: str | None, model: type[BaseModel]) -> str:
    """One line per error of ``err`` (validating ``data``, read from ``origin`` whose
    ``text`` gives line numbers, against ``model``)."""
    lines = []
    key_lines = KeyLines(text) if text is not None else None
    for e in err.errors():
        loc = tuple(e["loc"])
        key = _loc_name(loc, data)
        msg = error_text(e)
        line = key_lines.find_path(loc) if key_lines else None
        where = f"{origin}:{line}" if line else origin
        if e["type"] == "extra_forbidden":
            lines.append(f"{where}: {_unknown_key(loc, key, model)}")
            continue
        value = e.get("input")
        if bool(loc) and loc[0] == "sources" and isinstance(value, Mapping):
            value = {k: "<hidden>" if k in ("token", "headers", "webhook_secret") else v
                     for k, v in value.items()}
        secret = bool(loc) and ((loc[0] == "channels" and loc[-1] in _SECRET_KEYS)
                                or (loc[0] == "subscriptions" and loc[-1] in ("email", "secret")))
        shown = "<hidden>" if secret else clip(value)
        hidden = ("token", "webhook_secret")
        if bool(loc) and loc[0] == "sources" and ("headers" in loc or loc[-1] in hidden):
            shown = "<hidden>"
        elif bool(loc) and loc[0] == "sources" and loc[-1] == "url" and isinstance(value, str):
            shown = repr(mask_url(value))  # tokens in query strings stay out of messages
        if e["type"] == "missing":
            lines.append(f"{where}: key {key}: missing (required)")
        else:
            lines.append(f"{where}: key {key}: {msg} (value: {shown})")
    return "\n".join(lines)
