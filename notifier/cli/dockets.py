"""``notifier dockets`` commands: ``extract [FILE]`` reads scheduling facts from entries.

Registered on the main group by :mod:`notifier.cli`; a thin wrapper over
:mod:`notifier.dockets` (no config, no database: anyone can check the extractor on
their own dockets).
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import click

from ..display import not_utf8
from ..dockets.entries import parse_entries
from ..dockets.extract import extract
from ..errors import NotifierError
from .common import config_option, handle_errors


@click.group()
def dockets() -> None:
    """Court docket entries: what the extractor reads in them."""


def _filed(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a YYYY-MM-DD date") from None


def _read(file: str) -> str:
    """The text of ``file``; a missing, unreadable or non-UTF-8 file is a NotifierError."""
    try:
        raw = Path(file).read_bytes()
    except FileNotFoundError as e:
        raise NotifierError(f"{file}: no such file") from e
    except OSError as e:
        raise NotifierError(f"{file}: cannot read ({e.strerror or type(e).__name__})") from e
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NotifierError(f"{file}: {not_utf8(raw, e)}") from e


@dockets.command("extract")
@config_option
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--filed", metavar="YYYY-MM-DD", callback=_filed,
              help="Filing date for plain-text lines and items without date_filed "
                   "(completes dates written without a year).")
@handle_errors
def extract_cmd(file: str | None, filed: date | None) -> None:
    """Print the facts each docket entry in FILE (or stdin) states, as JSON.

    FILE is a JSON list of {"description": TEXT, "date_filed": "YYYY-MM-DD"}, or plain
    text with one entry per line. The output is a JSON list in the same order, each
    {"facts": [{"action", "kind", "date", "time", "from_date", "quote", "certain"}]}.
    """
    if file is None or file == "-":
        origin, text = "stdin", sys.stdin.read()
    else:
        origin, text = file, _read(file)
    entries = parse_entries(text, origin, filed)
    out = [{"facts": [f.as_json() for f in extract(e.description, e.date_filed)]}
           for e in entries]
    click.echo(json.dumps(out, indent=2))
