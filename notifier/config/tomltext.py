"""Reading TOML text safely: what config files and calendar files share.

Call :func:`load_toml` instead of ``tomllib.loads``: it turns the parser's
``RecursionError`` on deeply nested arrays or inline tables into a
:class:`TomlTextError` with a line, and rejects data nested deeper than
:data:`MAX_DEPTH` (which later recursive steps could not handle). :func:`control_chars`
finds strings holding control characters (``"\\u0000"`` is valid TOML). The callers
turn these into their own domain errors naming the file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from typing import Any

# Far more than any real config or calendar file needs (they nest 3 deep).
MAX_DEPTH = 20
# Control characters other than tab, CR and LF: none belongs in a title, note or
# setting, and a NUL or ESC would reach feeds, messages and terminals.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Where a run of opening brackets is deep enough to be the cause, for the message.
_DEEP_RUN = re.compile(r"(?:[\[{]\s*){" + str(MAX_DEPTH) + ",}")

_KEY = re.compile(r"^\s*([A-Za-z0-9_.\"' -]+?)\s*=")


class TomlTextError(ValueError):
    """TOML text that parses badly or too deep; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def load_toml(text: str) -> dict[str, Any]:
    """``tomllib.loads`` with depth limits; raises TOMLDecodeError or TomlTextError."""
    try:
        data = tomllib.loads(text)
    except RecursionError:
        m = _DEEP_RUN.search(text)
        line = text.count("\n", 0, m.start()) + 1 if m else None
        key = _KEY.match(text.splitlines()[line - 1]) if line else None
        where = f"key {key.group(1)}: " if key else ""
        raise TomlTextError(f"{where}arrays or inline tables nested too deeply (at most "
                            f"{MAX_DEPTH} levels)", line) from None
    deep = _too_deep(data)
    if deep is not None:
        raise TomlTextError(f"key {deep}: nested more than {MAX_DEPTH} levels deep")
    return data


def _too_deep(data: dict[str, Any]) -> str | None:
    """The key path of the first value nested deeper than MAX_DEPTH (iteratively)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return path
        if isinstance(node, dict):
            stack += [(v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(node)]
    return None


def walk_strings(data: Any, path: tuple[str | int, ...] = ()
                 ) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(key path, string) for every string value in parsed TOML data."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            yield where, node
        elif isinstance(node, dict):
            stack += [(v, (*where, k)) for k, v in reversed(node.items())]
        elif isinstance(node, list):
            stack += [(v, (*where, i)) for i, v in reversed(list(enumerate(node)))]


def control_chars(data: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(key path, string) for every string that holds a control character."""
    for where, text in walk_strings(data):
        if CONTROL.search(text):
            yield where, text
