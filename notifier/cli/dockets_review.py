"""``notifier dockets review [SOURCE]``, ``accept ID`` and ``reject ID``: uncertain facts.

Attached to the ``dockets`` group by :mod:`notifier.cli.main`; thin wrappers over
:mod:`notifier.sources.docketreview`. Accepting applies the fact at once (the
source's entries are folded again, and its alerts are planned like a fetch's).
"""

from __future__ import annotations

import json

import click

from ..config import Settings, SourceSettings
from ..display import table
from ..errors import NotifierError
from ..notify.outbox import change_hook
from ..sources.docketreview import ReviewItem, decide, pending
from ..sources.dockets import refold
from ..sources.poll import live_owners
from ..timeutil import utcnow
from .common import config_option, get_ctx, handle_errors


def _source(settings: Settings, name: str) -> SourceSettings:
    for src in settings.sources:
        if src.name == name and src.is_docket:
            return src
    known = ", ".join(s.name for s in settings.sources if s.is_docket) or "none configured"
    raise NotifierError(f"no docket source {name!r} in {settings.origin} (docket sources: "
                        f"{known})")


def _quote(item: ReviewItem, width: int = 70) -> str:
    q = str(item.fact.get("quote") or "")
    return q if len(q) <= width else q[:width - 1] + "…"


@click.command("review")
@config_option
@click.argument("source", required=False)
@click.option("--all", "every", is_flag=True, help="Decided facts too.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@handle_errors
def review(source: str | None, every: bool, as_json: bool) -> None:
    """Uncertain facts read from docket entries, waiting for accept or reject."""
    ctx = get_ctx()
    if source is not None:
        _source(ctx.settings, source)
    items = pending(ctx.store, source, every=every)
    if as_json:
        click.echo(json.dumps([i.as_dict() for i in items], indent=2))
        return
    if not items:
        click.echo("nothing to review")
        return
    click.echo(table(["id", "source", "entry", "filed", "action", "kind", "date", "time",
                      "status", "quote"],
                     [(i.id, i.source, i.number or "-",
                       i.date_filed.isoformat() if i.date_filed else "-",
                       i.fact.get("action"), i.fact.get("kind"), i.fact.get("date") or "-",
                       i.fact.get("time") or "-", i.status, _quote(i)) for i in items],
                     max_width=72))
    click.echo("apply with `notifier dockets accept ID`, drop with `notifier dockets reject ID`",
               err=True)


def _decide(review_id: int, status: str) -> None:
    ctx = get_ctx()
    now = utcnow()
    name = decide(ctx.store, review_id, status, now)
    src = _source(ctx.settings, name)
    rep = refold(ctx.store, src, now, hook=change_hook(ctx.settings),
                 live=live_owners(ctx.settings))
    for ch in rep.changes:
        click.echo(f"{ch.event_uid}  {ch.summary}")
    click.echo(f"fact {review_id} {status}; {len(rep.changes)} change(s) from {src.name}")
    if rep.status == "held":
        click.echo(f"held: run `notifier sources accept {src.name}` to apply", err=True)


@click.command("accept")
@config_option
@click.argument("review_id", metavar="ID", type=int)
@handle_errors
def accept(review_id: int) -> None:
    """Apply uncertain fact ID (from `notifier dockets review`) now."""
    _decide(review_id, "accepted")


@click.command("reject")
@config_option
@click.argument("review_id", metavar="ID", type=int)
@handle_errors
def reject(review_id: int) -> None:
    """Never apply uncertain fact ID."""
    _decide(review_id, "rejected")
