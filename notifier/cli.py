"""The ``notifier`` command line: thin commands over the library.

Every command takes ``--config PATH``. A :class:`~notifier.errors.NotifierError`
becomes a message on stderr and exit code 1; usage errors exit 2.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .config import Settings, load_settings
from .errors import NotifierError
from .logs import register_settings_secrets
from .store import Store
from .textfmt import table
from .timeutil import utcnow

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
    return wrapper  # type: ignore[return-value]


def get_ctx() -> Ctx:
    c = click.get_current_context()
    obj = c.ensure_object(dict)
    if "ctx" not in obj:
        obj["ctx"] = Ctx(obj.get("config"))
    ctx: Ctx = obj["ctx"]
    return ctx


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@config_option
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
@click.version_option(package_name="notifier")
def main(verbose: bool) -> None:
    """Court-calendar notifications: track hearings, publish feeds, send reminders."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@config_option
@handle_errors
def check() -> None:
    """Validate the config and every calendar file; report every problem."""
    from .calendars import scan

    settings = get_ctx().settings
    result = scan(settings.calendar_folders())
    for err in result.errors:
        for problem in err.problems:
            click.echo(problem, err=True)
    events = sum(len(c.events) for c in result.calendars)
    cases = sum(len(c.cases) for c in result.calendars)
    if result.errors:
        bad = sum(len(e.problems) for e in result.errors)
        click.echo(f"{bad} problem(s) in {len(result.errors)} file(s); "
                   f"{len(result.calendars)} file(s) OK", err=True)
        sys.exit(1)
    click.echo(f"OK: config {settings.origin}; {len(result.calendars)} calendar file(s), "
               f"{cases} case(s), {events} event(s)")


@main.command()
@config_option
@click.option("--prune-unconfigured", is_flag=True,
              help="Also remove the events of calendar folders and sources no longer in "
                   "the config (as if their files had been deleted).")
@handle_errors
def sync(prune_unconfigured: bool) -> None:
    """Run one sync pass and print what changed."""
    from . import orphans
    from .outbox import change_hook
    from .sync import sync_calendars
    from .timeutil import utcnow

    ctx = get_ctx()
    # Alerts and re-planned reminders are written with the changes; a running
    # daemon (or `notifier dispatch`) sends them.
    hook = change_hook(ctx.settings)
    report = sync_calendars(ctx.store, ctx.settings.calendar_folders(), hook=hook)
    if prune_unconfigured and not report.errors:
        report.changes += orphans.prune(ctx.store, ctx.settings, utcnow(), hook)
    for ch in report.changes:
        click.echo(f"{_event_ref(ch.event_uid)}  {ch.summary}")
    click.echo(f"{len(report.changes)} change(s) from {report.files} file(s)")
    with ctx.store.read() as s:
        kept = orphans.find(s, ctx.settings)
    if kept and prune_unconfigured and report.errors:
        # A file moved to a folder of its own that failed to parse has not taken its
        # events over yet: removing them now would alert "removed", then "restored".
        click.echo("not pruned: fix the files with errors first (a moved file takes its "
                   "events over once it syncs)", err=True)
    elif kept:
        click.echo(f"note: {orphans.describe(kept)}", err=True)
    if report.errors:
        for err in report.errors:
            for problem in err.problems:
                click.echo(f"error: {problem}", err=True)
        click.echo(f"{len(report.errors)} file(s) not synced; their stored events are "
                   "unchanged", err=True)
        sys.exit(1)


def _event_ref(uid: str) -> str:
    return uid.removesuffix("@notifier")


@main.command()
@config_option
@click.option("--case", "case_id", metavar="ID", help="Only this case.")
@click.option("--upcoming", is_flag=True, help="Only events not over yet (and dates to be set).")
@click.option("--all", "include_removed", is_flag=True, help="Include removed events.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@handle_errors
def events(case_id: str | None, upcoming: bool, include_removed: bool, as_json: bool) -> None:
    """List tracked events."""
    from .queries import list_events

    with get_ctx().store.read() as s:
        views = list_events(s, case=case_id, upcoming_after=utcnow() if upcoming else None,
                            include_removed=include_removed)
    if as_json:
        click.echo(json.dumps([v.as_dict() for v in views], indent=2))
        return
    if not views:
        click.echo("no events (run `notifier sync` first?)")
        return
    rows = [(v.event.case_id, v.event.event_id, v.event.kind, v.when.describe(v.tz),
             "removed" if v.event.removed_at else v.event.status, v.event.title,
             v.event.source)
            for v in views]
    click.echo(table(["case", "event", "kind", "when", "status", "title", "source"], rows,
                     max_width=48))


@main.command()
@config_option
@click.argument("event")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@handle_errors
def history(event: str, as_json: bool) -> None:
    """Show the change history of one EVENT (CASE/EVENT, event id or UID)."""
    from .queries import find_event
    from .queries import history as load_history

    with get_ctx().store.read() as s:
        ev = find_event(s, event)
        rows = load_history(s, ev.uid)
    if as_json:
        click.echo(json.dumps([{
            "at": r.at.isoformat(), "kind": r.kind, "field": r.field,
            "before": json.loads(r.before) if r.before else None,
            "after": json.loads(r.after) if r.after else None, "summary": r.summary,
        } for r in rows], indent=2))
        return
    click.echo(f"{ev.case_id}/{ev.event_id}: {ev.title}")
    click.echo(table(["at (UTC)", "change", "details"],
                     [(f"{r.at:%Y-%m-%d %H:%M}", r.kind, r.summary) for r in rows],
                     max_width=90))



@main.group()
def feed() -> None:
    """iCal feeds: static export and private-feed tokens."""


@feed.command("export")
@config_option
@click.option("--out", "out", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Folder to write all.ics and one {case}.ics per case into.")
@handle_errors
def feed_export(out: str) -> None:
    """Write the same .ics files the server serves, for any static web server."""
    from pathlib import Path

    from .feedcache import FeedService, options_from

    ctx = get_ctx()
    service = FeedService(ctx.store, options_from(ctx.settings))
    try:
        written = service.export(Path(out))
    except OSError as e:
        raise NotifierError(f"cannot write to {out}: {e.strerror or e}") from e
    for path in written:
        click.echo(str(path))
    click.echo(f"{len(written)} file(s) written")
    if ctx.settings.feed.private:
        click.echo("note: [feed] private is on, but exported files carry no token "
                   "protection; host them accordingly", err=True)


@feed.group("token")
def feed_token() -> None:
    """Secret tokens for private feeds ([feed] private = true)."""


@feed_token.command("create")
@config_option
@click.option("--case", "case_id", metavar="ID", help="Only this case (default: every case).")
@click.option("--label", metavar="TEXT", help="A note on who the token is for.")
@handle_errors
def token_create(case_id: str | None, label: str | None) -> None:
    """Create a token; it is printed once and stored only as a hash."""
    from urllib.parse import quote

    from .tokens import create_token

    ctx = get_ctx()
    row, secret = create_token(ctx.store, case_id=case_id, label=label)
    base = ctx.settings.server.base_url
    path = f"/calendars/{case_id or 'all'}.ics?token={quote(secret)}"
    click.echo(f"token {row.id} created for {'case ' + case_id if case_id else 'every case'}")
    click.echo(f"secret (shown only now): {secret}")
    click.echo(f"feed:      {base}{path}")
    click.echo(f"subscribe: {base.replace('https://', 'webcal://').replace('http://', 'webcal://')}"
               f"{path}")
    if not ctx.settings.feed.private:
        click.echo("note: [feed] private is off, so feeds are public until you turn it on",
                   err=True)


@feed_token.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@handle_errors
def token_list(as_json: bool) -> None:
    """List tokens (never the secrets)."""
    from .tokens import list_tokens

    rows = list_tokens(get_ctx().store)
    if as_json:
        click.echo(json.dumps([{
            "id": r.id, "case": r.case_id, "label": r.label,
            "created_at": r.created_at.isoformat(),
            "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
        } for r in rows], indent=2))
        return
    if not rows:
        click.echo("no feed tokens (create one with `notifier feed token create`)")
        return
    click.echo(table(["id", "case", "label", "created (UTC)", "status"], [
        (r.id, r.case_id or "*", r.label or "", f"{r.created_at:%Y-%m-%d %H:%M}",
         f"revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "active")
        for r in rows]))


@feed_token.command("revoke")
@config_option
@click.argument("token_id", type=int)
@handle_errors
def token_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID (from `notifier feed token list`) at once."""
    from .tokens import revoke_token

    row = revoke_token(get_ctx().store, token_id)
    click.echo(f"token {row.id} revoked")

@main.command()
@config_option
@click.option("--pending", is_flag=True, help="Only notifications still to be sent.")
@click.option("--failed", is_flag=True, help="Only failed (retrying) and dead ones.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N rows.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("--history", "history_id", type=int, metavar="ID",
              help="Every delivery attempt of notification ID.")
@handle_errors
def reminders(pending: bool, failed: bool, limit: int | None, as_json: bool,
              history_id: int | None) -> None:
    """List planned, sent, late, missed, failed and withdrawn notifications."""
    from .outboxview import list_notifications

    if history_id is not None:
        _history(history_id, as_json)
        return
    statuses = None
    if pending or failed:
        statuses = ([*(["pending", "sending"] if pending else [])]
                    + (["failed", "dead"] if failed else []))
    with get_ctx().store.read() as s:
        views = list_notifications(s, statuses=statuses, limit=limit)
    if as_json:
        click.echo(json.dumps([v.as_dict() for v in views], indent=2))
        return
    if not views:
        click.echo("no notifications")
        return
    rows = [(v.n.id, v.due_local, v.n.type, v.state, v.n.channel, v.event_ref, v.what,
             v.n.attempts, v.n.last_error or "") for v in views]
    click.echo(table(["id", "due (court time)", "type", "status", "channel", "event", "what",
                      "tries", "last error"], rows, max_width=48))


def _history(notification_id: int, as_json: bool) -> None:
    from .channelstatus import history
    from .models import Notification

    with get_ctx().store.read() as s:
        n = s.get(Notification, notification_id)
        if n is None:
            raise NotifierError(f"no notification {notification_id} (see `notifier reminders`)")
        rows = history(s, notification_id)
    if as_json:
        click.echo(json.dumps({"id": n.id, "status": n.status, "channel": n.channel,
                               "attempts": [{"at": d.attempted_at.isoformat(),
                                             "outcome": d.outcome, "error": d.error,
                                             "duration_ms": d.duration_ms} for d in rows]},
                              indent=2))
        return
    click.echo(f"notification {n.id}: {n.type} to {n.channel}, {n.status}, "
               f"{n.attempts} attempt(s)")
    if rows:
        click.echo(table(["attempted (UTC)", "outcome", "ms", "error"],
                         [(f"{d.attempted_at:%Y-%m-%d %H:%M:%S}", d.outcome, d.duration_ms,
                           d.error or "") for d in rows], max_width=100))


@main.command()
@config_option
@click.option("--host", metavar="HOST", help="Listen address (default: [server] host).")
@click.option("--port", type=click.IntRange(0, 65535), metavar="PORT", envvar="NOTIFIER_PORT",
              help="Port (default: [server] port; env NOTIFIER_PORT).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              envvar="NOTIFIER_LOG_FORMAT", show_default=True,
              help="Readable lines or JSON lines (env NOTIFIER_LOG_FORMAT).")
@click.option("--shutdown-timeout", type=float, default=20.0, show_default=True,
              metavar="SECONDS", help="How long in-flight deliveries may take on SIGTERM.")
@handle_errors
def run(host: str | None, port: int | None, log_format: str, shutdown_timeout: float) -> None:
    """The daemon: sync, reminders and alerts, and the HTTP server, until SIGTERM/SIGINT."""
    from .daemon import run as run_daemon
    from .logs import setup_logging

    verbose = click.get_current_context().find_root().params.get("verbose", False)
    setup_logging("json" if log_format == "json" else "text",
                  logging.DEBUG if verbose else logging.INFO)
    sys.exit(run_daemon(get_ctx().settings, host=host, port=port,
                        shutdown_timeout=shutdown_timeout))


@main.command()
@config_option
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@handle_errors
def dispatch(once: bool) -> None:
    """Only send due notifications from the outbox until SIGTERM/SIGINT (or once)."""
    import signal

    from .dispatch import Dispatcher

    ctx = get_ctx()
    logging.getLogger("notifier.notifications").setLevel(logging.INFO)
    dispatcher = Dispatcher(ctx.store, ctx.settings)
    if once:
        stats = dispatcher.run_once()
        click.echo(f"sent {stats.sent}, failed {stats.failed}, dead {stats.dead}, "
                   f"withdrawn {stats.withdrawn}, missed {stats.missed}")
        return

    def _stop(_sig: int, _frame: Any) -> None:
        dispatcher.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    dispatcher.serve()


def _register() -> None:
    # Imported here: the subcommand modules import this module's helpers.
    from .channelcli import channels
    from .sources.commands import sources

    main.add_command(sources)
    main.add_command(channels)


if __name__ == "__main__":  # `python -m notifier.cli`: run the real module's group
    from notifier.cli import main as _main

    _main()
else:
    _register()
