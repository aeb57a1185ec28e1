"""``notifier reminders``: the outbox as a list, and one notification's delivery attempts.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ..display import table
from ..errors import NotifierError
from ..timeutil import to_utc, zone
from .common import config_option, get_ctx, handle_errors, utc_option, width


@click.command()
@config_option
@click.option("--pending", is_flag=True, help="Only notifications still to be sent.")
@click.option("--failed", is_flag=True, help="Only failed (retrying) and dead ones.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N rows.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("--history", "history_id", type=int, metavar="ID",
              help="Every delivery attempt of notification ID.")
@utc_option
@handle_errors
def reminders(pending: bool, failed: bool, limit: int | None, as_json: bool,
              history_id: int | None, utc: bool) -> None:
    """List planned, sent, late, missed, failed and withdrawn notifications."""
    from ..notify.outbox_read import list_notifications

    if history_id is not None:
        _history(history_id, as_json, utc)
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
    rows = [(v.n.id, v.due_utc if utc else v.due_local, v.n.type, v.state, v.n.channel,
             v.event_ref, v.what, v.n.attempts, v.n.last_error or "") for v in views]
    click.echo(table(["id", "due (UTC)" if utc else "due (court time)", "type", "status",
                      "channel", "event", "what", "tries", "last error"], rows,
                     max_width=width(48)))


def _history(notification_id: int, as_json: bool, utc: bool) -> None:
    from ..notify.channel_health import history
    from ..store.models import Notification

    with get_ctx().store.read() as s:
        n = s.get(Notification, notification_id)
        if n is None:
            raise NotifierError(f"no notification {notification_id} (see `notifier reminders`)")
        rows = history(s, notification_id)
    if as_json:
        click.echo(json.dumps({"id": n.id, "status": n.status, "channel": n.channel,
                               "attempts": [{"at": d.attempted_at.isoformat(),
                                             "outcome": d.outcome, "error": d.error,
                                             "duration_ms": d.duration_ms,
                                             "possible_repeat": d.repeat} for d in rows]},
                              indent=2))
        return
    click.echo(f"notification {n.id}: {n.type} to {n.channel}, {n.status}, "
               f"{n.attempts} attempt(s)")
    payload = json.loads(n.payload or "{}")
    tz = zone("UTC" if utc else (payload.get("event") or {}).get("timezone")
              or payload.get("timezone") or "UTC")
    if rows:
        click.echo(table(["attempted", "outcome", "ms", "error"],
                         [(f"{to_utc(d.attempted_at).astimezone(tz):%Y-%m-%d %H:%M:%S %Z}",
                           _outcome(d), d.duration_ms, d.error or "") for d in rows],
                         max_width=width(100)))


def _outcome(d: Any) -> str:
    # An earlier claim ended unrecorded: this attempt may have sent the message again.
    return f"{d.outcome} (possible repeat)" if d.repeat else d.outcome
