"""``notifier sources`` commands: status, ``fetch NAME`` and ``accept NAME``.

Registered on the main group by :mod:`notifier.cli`; thin wrappers over
:mod:`notifier.sources`.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from ..config import Settings, SourceSettings
from ..display import table
from ..errors import NotifierError
from ..notify.outbox import change_hook
from ..sources.poll import FetchReport, accept_held, fetch_source, live_owners
from ..sources.status import source_status
from ..timeutil import utcnow
from .common import config_option, get_ctx, handle_errors


def _find(settings: Settings, name: str) -> SourceSettings:
    for src in settings.sources:
        if src.name == name:
            return src
    known = ", ".join(s.name for s in settings.sources) or "none configured"
    raise NotifierError(f"no source {name!r} in {settings.origin} (sources: {known})")


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "-"
    secs = int((now - when).total_seconds())
    if secs < 0:
        secs = -secs
        return "in " + _span(secs)
    return _span(secs) + " ago"


def _span(secs: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


@click.group(invoke_without_command=True)
@config_option
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_context
@handle_errors
def sources(click_ctx: click.Context, as_json: bool) -> None:
    """Remote sources: status of each (or a subcommand: fetch, accept)."""
    if click_ctx.invoked_subcommand is not None:
        return
    ctx = get_ctx()
    rows = source_status(ctx.store, ctx.settings)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    if not rows:
        click.echo("no [[sources]] configured")
        return
    now = utcnow()
    click.echo(table(
        ["name", "url", "format", "status", "last fetch", "last success", "last change",
         "next", "failures", "events", "held"],
        [(r.name, r.url, r.format, r.last_status if r.enabled else "disabled",
          _ago(r.last_fetch_at, now), _ago(r.last_success_at, now),
          _ago(r.last_change_at, now), _ago(r.next_fetch_at, now), r.failures, r.events,
          len(r.held) if r.held_at else "-") for r in rows], max_width=48))
    for r in rows:
        if r.review:
            click.echo(f"{r.name}: {r.review} uncertain fact(s) to review: "
                       f"`notifier dockets review {r.name}`", err=True)
        if r.last_error and r.failures:
            click.echo(f"error: {r.last_error}", err=True)
        if r.held_at:
            click.echo(f"held ({r.name}, since {r.held_at:%Y-%m-%d %H:%M} UTC): run "
                       f"`notifier sources accept {r.name}` to apply", err=True)
            for line in r.held:
                click.echo(f"  {line}", err=True)


def _print_report(rep: FetchReport) -> None:
    if rep.status == "error":
        click.echo(f"error: {rep.error}", err=True)
        click.echo("stored events unchanged", err=True)
        sys.exit(1)
    if rep.status == "not_modified":
        click.echo(f"{rep.source}: not modified")
    for ch in rep.changes:
        click.echo(f"{ch.event_uid}  {ch.summary}")
    if rep.status == "held":
        click.echo(f"{rep.source}: {len(rep.held)} change(s) held (more than the allowed "
                   "share of its events); nothing applied:")
        for line in rep.held:
            click.echo(f"  {line}")
        click.echo(f"apply with `notifier sources accept {rep.source}`, or wait for the next "
                   "fetch to confirm")
        return
    tail = f"; {rep.pending_missing} event(s) missing, removed if still missing next time" \
        if rep.pending_missing else ""
    click.echo(f"{len(rep.changes)} change(s) from {rep.source}{tail}")


@sources.command("fetch")
@config_option
@click.argument("name")
@click.option("--force", is_flag=True, help="Download and re-read even if not modified.")
@handle_errors
def fetch_cmd(name: str, force: bool) -> None:
    """Fetch source NAME now and print what changed."""
    ctx = get_ctx()
    src = _find(ctx.settings, name)
    # Like `notifier sync`: alerts and re-planned reminders commit with the changes.
    _print_report(fetch_source(ctx.store, src, hook=change_hook(ctx.settings), force=force,
                               live=live_owners(ctx.settings), base_dir=ctx.settings.base_dir))


@sources.command("accept")
@config_option
@click.argument("name")
@handle_errors
def accept_cmd(name: str) -> None:
    """Apply the held changes of source NAME."""
    ctx = get_ctx()
    src = _find(ctx.settings, name)
    _print_report(accept_held(ctx.store, src, hook=change_hook(ctx.settings),
                              live=live_owners(ctx.settings)))
