"""``notifier check``, ``sync``, ``events`` and ``history``: calendar files and what they hold.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from ..display import table
from ..timeutil import to_utc, utcnow, zone
from .common import config_option, get_ctx, handle_errors, utc_option, width


@click.command()
@config_option
@handle_errors
def check() -> None:
    """Validate the config, every calendar file and the database; report every problem."""
    from ..calendars.folders import scan
    from ..config.apprise_urls import channel_url_problems
    from ..store.watch import check_database

    settings = get_ctx().settings
    url_problems = channel_url_problems(settings, _config_text(settings.origin))
    for problem in url_problems:
        click.echo(problem, err=True)
    result = scan(settings.calendar_folders())
    for err in result.errors:
        for problem in err.problems:
            click.echo(problem, err=True)
    events = sum(len(c.events) for c in result.calendars)
    cases = sum(len(c.cases) for c in result.calendars)
    db_problem = check_database(settings.database_url())
    if db_problem:
        click.echo(f"error: {db_problem}", err=True)
    if result.errors:
        bad = sum(len(e.problems) for e in result.errors)
        click.echo(f"{bad} problem(s) in {len(result.errors)} file(s); "
                   f"{len(result.calendars)} file(s) OK", err=True)
    if result.errors or db_problem or url_problems:
        sys.exit(1)
    click.echo(f"OK: config {settings.origin}; {len(result.calendars)} calendar file(s), "
               f"{cases} case(s), {events} event(s)")


def _config_text(origin: str) -> str | None:
    """The config file's text, for line numbers in messages (None: built-in defaults)."""
    try:
        return Path(origin).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # it was read a moment ago; a message without a line will do


@click.command()
@config_option
@click.option("--prune-unconfigured", is_flag=True,
              help="Also remove the events of calendar folders and sources no longer in "
                   "the config (as if their files had been deleted).")
@handle_errors
def sync(prune_unconfigured: bool) -> None:
    """Run one sync pass and print what changed."""
    from ..notify.outbox import change_hook
    from ..timeutil import utcnow
    from ..tracking import orphans
    from ..tracking.sync import sync_calendars

    ctx = get_ctx()
    # Alerts and re-planned reminders are written with the changes; a running
    # daemon (or `notifier dispatch`) sends them.
    hook = change_hook(ctx.settings)
    report = sync_calendars(ctx.store, ctx.settings.calendar_folders(), hook=hook,
                            baseline_hook=change_hook(ctx.settings, alerts=False))
    if report.baseline and report.changes:
        click.echo("baseline import into an empty database: history recorded and reminders "
                   "planned; no change alerts sent", err=True)
    if prune_unconfigured and not report.errors:
        report.changes += orphans.prune(ctx.store, ctx.settings, utcnow(), hook)
    for err in report.errors:  # first, so the summary line below is the last word
        for problem in err.problems:
            click.echo(f"error: {problem}", err=True)
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
        click.echo(f"{len(report.errors)} file(s) not synced; their stored events are "
                   "unchanged", err=True)
        sys.exit(1)


def _event_ref(uid: str) -> str:
    return uid.removesuffix("@notifier")


@click.command()
@config_option
@click.option("--case", "case_id", metavar="ID", help="Only this case.")
@click.option("--upcoming", is_flag=True, help="Only events not over yet (and dates to be set).")
@click.option("--all", "include_removed", is_flag=True, help="Include removed events.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@utc_option
@handle_errors
def events(case_id: str | None, upcoming: bool, include_removed: bool, as_json: bool,
           utc: bool) -> None:
    """List tracked events."""
    from ..store.queries import ever_synced, list_events, require_case

    with get_ctx().store.read() as s:
        if case_id is not None:
            require_case(s, case_id)
        views = list_events(s, case=case_id, upcoming_after=utcnow() if upcoming else None,
                            include_removed=include_removed)
        synced = bool(views) or ever_synced(s)
    if as_json:
        click.echo(json.dumps([v.as_dict() for v in views], indent=2))
        return
    if not views:
        which = " to come" if upcoming else ""
        of = f" of case {case_id}" if case_id else ""
        click.echo(f"no events{which}{of}" if synced else
                   "no events (run `notifier sync` first?)")
        return
    rows = [(v.event.case_id, v.event.event_id, v.event.kind,
             v.when.describe(zone("UTC") if utc else v.tz),
             "removed" if v.event.removed_at else v.event.status, v.event.title,
             v.event.source)
            for v in views]
    click.echo(table(["case", "event", "kind", "when", "status", "title", "source"], rows,
                     max_width=width(48)))


@click.command()
@config_option
@click.argument("event")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@utc_option
@handle_errors
def history(event: str, as_json: bool, utc: bool) -> None:
    """Show the change history of one EVENT (CASE/EVENT, event id or UID)."""
    from ..store.models import Case
    from ..store.queries import find_event
    from ..store.queries import history as load_history

    with get_ctx().store.read() as s:
        ev = find_event(s, event)
        rows = load_history(s, ev.uid)
        case = s.get(Case, ev.case_id)
    tz = zone("UTC" if utc or case is None else case.timezone)
    if as_json:
        click.echo(json.dumps([{
            "at": r.at.isoformat(), "kind": r.kind, "field": r.field,
            "before": json.loads(r.before) if r.before else None,
            "after": json.loads(r.after) if r.after else None, "summary": r.summary,
        } for r in rows], indent=2))
        return
    click.echo(f"{ev.case_id}/{ev.event_id}: {ev.title}")
    click.echo(table(["at", "change", "details"],
                     [(f"{to_utc(r.at).astimezone(tz):%Y-%m-%d %H:%M %Z}", r.kind, r.summary)
                      for r in rows], max_width=width(90)))
