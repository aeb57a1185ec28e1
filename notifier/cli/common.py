"""Shared pieces of every ``notifier`` command: ``--config``, error handling, context.

Command modules decorate their commands with :func:`config_option` and
:func:`handle_errors` and reach the settings and store through :func:`get_ctx`.
A :class:`~notifier.errors.NotifierError` becomes a message on stderr and exit code 1,
and so does a database error (locked, damaged, disk full), named after the database
file rather than shown as a traceback.
"""

from __future__ import annotations

import functools
import sqlite3
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from sqlalchemy.exc import DBAPIError

from ..config import Settings, load_settings
from ..errors import NotifierError
from ..logs import mask, register_settings_secrets
from ..store import Store
from ..store.watch import describe_error

F = TypeVar("F", bound=Callable[..., Any])


class Ctx:
    """Lazily loaded settings and store, shared by the commands of one invocation."""

    def __init__(self, config: str | None) -> None:
        self.config_path = config
        self._settings: Settings | None = None
        self._store: Store | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
            register_settings_secrets(self._settings)
        return self._settings

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.settings.database_url())
        return self._store


def _set_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(dict)["config"] = value


def config_option(f: F) -> F:
    """``--config PATH`` on every command (also accepted before the command name)."""
    return click.option("--config", "config", metavar="PATH", expose_value=False,
                        callback=_set_config, is_eager=True,
                        help="Config file (default: $NOTIFIER_CONFIG, ./config.toml, "
                             "built-in defaults).")(f)


def handle_errors(f: F) -> F:
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except NotifierError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(1)
        except (DBAPIError, sqlite3.Error) as e:
            url = get_ctx().settings.database_url()
            click.echo(f"error: {mask(str(describe_error(url, e)))}", err=True)
            sys.exit(1)
    return wrapper  # type: ignore[return-value]


def get_ctx() -> Ctx:
    c = click.get_current_context()
    obj = c.ensure_object(dict)
    if "ctx" not in obj:
        obj["ctx"] = Ctx(obj.get("config"))
    ctx: Ctx = obj["ctx"]
    return ctx


def utc_option(f: F) -> F:
    """``--utc``: times in UTC instead of the court's time (the default everywhere)."""
    return click.option("--utc", "utc", is_flag=True,
                        help="Show times in UTC (default: court time with its zone).")(f)


def width(cells: int) -> int | None:
    """Cut table cells at ``cells`` characters on a terminal only; a pipe or file gets
    every character (scripts and `grep` need the whole text)."""
    return cells if sys.stdout.isatty() else None
