"""Reading TOML text safely and fast: what config files and calendar files share.

Call :func:`load_toml` instead of ``tomllib.loads``. It parses with ``rtoml`` (the
Rust ``toml`` crate: TOML 1.0 like ``tomllib``, about 5x faster, which a calendar file
of 200,000 events needs, and it stops at about 80 levels of nesting by itself instead
of recursing without end), turns every parse error into a :class:`TomlTextError` with
its line, and rejects data nested deeper than :data:`MAX_DEPTH` (which later
recursive steps could not handle). :func:`control_chars` finds strings holding control characters
(``"\\u0000"`` is valid TOML). Callers turn these into their own domain errors
naming the file.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import rtoml

# Far more than any real config or calendar file needs (they nest 3 deep).
MAX_DEPTH = 20
# Control characters other than tab, CR and LF: none belongs in a title, note or
# setting, and a NUL or ESC would reach feeds, messages and terminals.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# TOML escapes that can produce such a character. Only text matching this (rare) is
# walked value by value; a false match (a literal '\b') only costs that walk.
_CONTROL_ESCAPE = re.compile(
    r"\\(?:[bfe]|u00[01][0-9A-Fa-f]|u007[Ff]|U0000[01][0-9A-Fa-f]|U0000007[Ff]|x[01][0-9A-Fa-f]|x7[Ff])")
# The first line opening enough arrays or inline tables to be the cause, for the message.
_DEEP_RUN = re.compile(r"^(?:[^\n\[{]*[\[{]){" + str(MAX_DEPTH) + "}", re.MULTILINE)
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\"' -]+?)\s*=")
# rtoml ends each message with the position: "... at line 3 column 9".
_AT_LINE = re.compile(r"\s+at line (\d+) column (\d+)\s*$")


class TomlTextError(ValueError):
    """TOML text that parses badly or too deep; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def load_toml(text: str, *, check_depth: bool = True) -> dict[str, Any]:
    """Parse TOML with depth limits; raises :class:`TomlTextError` (with a line).

    ``check_depth=False`` skips the walk over every value, for callers whose schema
    rejects nesting itself without recursing (calendar files: pydantic's validator).
    """
    try:
        data: dict[str, Any] = rtoml.loads(text)
    except rtoml.TomlParsingError as e:
        raise _parse_error(text, str(e)) from None
    if check_depth and _too_deep(data):
        raise TomlTextError(f"key {_deep_path(data)}: nested more than {MAX_DEPTH} levels deep")
    return data


def _parse_error(text: str, message: str) -> TomlTextError:
    """The parser's message as a TomlTextError: position moved to ``line``, deep
    nesting said in our words with the key it happened under."""
    m = _AT_LINE.search(message)
    line = int(m.group(1)) if m else None
    message = message[:m.start()] if m else message
    if "recursion" in message or "recurse" in message:
        deep = _DEEP_RUN.search(text)
        line = text.count("\n", 0, deep.start()) + 1 if deep else line
        key = _KEY.match(text.splitlines()[line - 1]) if line else None
        where = f"key {key.group(1)}: " if key else ""
        message = f"{where}arrays or inline tables nested too deeply (at most {MAX_DEPTH} levels)"
    elif m:
        message = f"{message} (column {m.group(2)})"
    return TomlTextError(message, line)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a large tree of new objects.

    Parsing 200,000 events allocates millions of objects that all stay alive, so
    every generation-2 collection on the way walks an ever larger heap for nothing
    (a quarter of the parse time). Nothing parsed here forms cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _too_deep(data: dict[str, Any]) -> bool:
    """Whether any value is nested deeper than MAX_DEPTH: containers only, level by level."""
    level: list[Any] = [data]
    for _ in range(MAX_DEPTH):
        below: list[Any] = []
        for node in level:
            values = node.values() if isinstance(node, dict) else node
            below += [v for v in values if isinstance(v, dict | list)]
        if not below:
            return False
        level = below
    return True


def _deep_path(data: dict[str, Any]) -> str:
    """The key path of the first value nested too deep (only for the message)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth >= MAX_DEPTH and isinstance(node, dict | list):
            return path
        if isinstance(node, dict):
            stack += [(v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in node.items()]
        elif isinstance(node, list):
            stack += [(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(node)]
    return "?"


def walk_strings(data: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(key path, string) for every string value in parsed TOML data, in file order."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            yield where, node
        elif isinstance(node, dict):
            stack += [(v, (*where, k)) for k, v in reversed(node.items())]
        elif isinstance(node, list):
            stack += [(v, (*where, i)) for i, v in reversed(list(enumerate(node)))]


def control_chars(text: str, data: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(key path, string) for every string of ``data`` (parsed from ``text``) that
    holds a control character."""
    if not _CONTROL_ESCAPE.search(text) and not CONTROL.search(text):
        return
    for where, value in walk_strings(data):
        if CONTROL.search(value):
            yield where, value


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\"' -]+?)\s*\]\]?")


class KeyLines:
    """Finds the line of a key in TOML text, for error messages: a top-level key, a
    table's header, or a key inside the n-th ``[[table]]`` (or the ``[table]``).

    TOML parsers give no positions, so this reads the lines once (only when there is a
    problem to report); each lookup scans one table's lines, so reporting every event
    of a 200,000-event file stays linear. Keys written as dotted keys or inside inline
    tables are not found (None).
    """

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        # Header lines in file order, and for each table name its positions in that list.
        self.headers: list[int] = []
        self.by_name: dict[str, list[int]] = {}
        for i, line in enumerate(self.lines):
            m = _HEADER.match(line)
            if m:
                name = re.sub(r"\s*\.\s*", ".", m.group(2)).replace('"', "").replace("'", "")
                self.by_name.setdefault(name, []).append(len(self.headers))
                self.headers.append(i)

    def _key_in(self, start: int, stop: int, key: str) -> int | None:
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        for i in range(start, stop):
            if pattern.match(self.lines[i]):
                return i + 1
        return None

    def find(self, table: str, index: int | None = None, key: str | None = None, *,
             header_if_missing: bool = True) -> int | None:
        """1-based line of ``key`` in the ``index``-th ``table`` (``[[table]]``) or in
        ``[table]``; of the table's header when ``key`` is None (or is not there and
        ``header_if_missing``); of a top-level ``table = ...`` when there is no such
        table header. None when not found."""
        positions = self.by_name.get(table, [])
        n = 0 if index is None else index
        if n >= len(positions):
            if index is None and not key and not positions:
                first = self.headers[0] if self.headers else len(self.lines)
                return self._key_in(0, first, table)
            return None
        pos = positions[n]
        start = self.headers[pos]
        stop = self.headers[pos + 1] if pos + 1 < len(self.headers) else len(self.lines)
        if key:
            found = self._key_in(start + 1, stop, key)
            if found is not None or not header_if_missing:
                return found
        return start + 1

    def find_path(self, loc: tuple[str | int, ...]) -> int | None:
        """The line of a key path as pydantic gives it (``("server", "prot")``,
        ``("channels", 1, "url")``), or None when it cannot be found."""
        if not loc:
            return None
        table = str(loc[0])
        index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
        rest = loc[2:] if index is not None else loc[1:]
        key = str(rest[0]) if rest else None
        if key is not None:
            sub = self.find(f"{table}.{key}", None)
            if sub is not None and index is None:
                return sub
        return self.find(table, index, key, header_if_missing=False) if key else \
            self.find(table, index)
