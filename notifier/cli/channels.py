"""``notifier channels`` commands: list channels with their health; ``test NAME``.

Registered on the main group by :mod:`notifier.cli`. ``channels test`` goes the
whole outbox path (a row, the dispatcher's render/send/record), so the test
message shows up in ``notifier reminders`` (and a success in the channel's health). It
is tried once: a failure is reported at once and final (``withdrawn``, outcome
``failed``), never retried by a daemon later nor counted as dead or against the
channel's health.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click
from sqlmodel import select

from ..config import Settings
from ..display import table
from ..errors import NotifierError
from ..logs import mask
from ..notify import outbox, outbox_rows
from ..notify.channel_health import channel_status
from ..notify.dispatch import Dispatcher
from ..store import Store
from ..store.models import Notification
from ..timeutil import utcnow
from .common import config_option, get_ctx, handle_errors


def _when(dt: datetime | None) -> str:
    return f"{dt:%Y-%m-%d %H:%M} UTC" if dt else "-"


@click.group(invoke_without_command=True)
@config_option
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_context
@handle_errors
def channels(click_ctx: click.Context, as_json: bool) -> None:
    """Notification channels: URL (masked), what they get, health (or: test NAME)."""
    if click_ctx.invoked_subcommand is not None:
        return
    ctx = get_ctx()
    if not ctx.settings.channels:
        if as_json:
            click.echo("[]")
        else:
            click.echo("no [[channels]] configured: notifications go to the log")
        return
    with ctx.store.read() as s:
        rows = channel_status(s, ctx.settings)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    click.echo(table(
        ["name", "url", "notify", "filters", "health", "last success", "failures",
         "waiting", "dead", "last error"],
        [(r.name, r.url, ",".join(r.notify),
          "; ".join(f"{k}={','.join(v)}" for k, v in r.filters.items() if v and v != ["*"])
          or "all", "ok" if r.healthy else "failing", _when(r.last_success),
          r.consecutive_failures, r.waiting, r.dead, r.last_error or "")
         for r in rows], max_width=48))


def send_test(store: Store, settings: Settings, name: str,
              now: datetime | None = None) -> Notification:
    """Send a test message to ``name`` through the outbox; return the finished row."""
    if name not in {c.name for c in settings.channels}:
        known = ", ".join(c.name for c in settings.channels) or "none configured"
        raise NotifierError(f"no channel {name!r} in {settings.origin} (channels: {known})")
    now = now or utcnow()
    key = f"test:{name}:{now:%Y%m%dT%H%M%S.%f}"
    row = outbox.new_row(key, "test", name, now, now, {
        "title": f"notifier test message for channel {name}",
        "text": "This is a test from notifier: this channel receives court-calendar "
                "reminders and alerts.",
        outbox_rows.ONCE: True})  # the user sees the outcome now: no retry later
    row.update(status="sending", attempts=1, claimed_until=now + settings.delivery.lease)
    with store.write() as s:
        outbox.insert_rows(s, [row])
    with store.read() as s:
        n = s.exec(select(Notification).where(Notification.dedupe_key == key)).one()
    disp = Dispatcher(store, settings)
    try:
        disp.process(n)
    finally:
        disp.close()
    with store.read() as s:
        return s.exec(select(Notification).where(Notification.dedupe_key == key)).one()


@channels.command("test")
@config_option
@click.argument("name")
@handle_errors
def channels_test(name: str) -> None:
    """Send a real test message to channel NAME and report the result."""
    ctx = get_ctx()
    n = send_test(ctx.store, ctx.settings, name)
    if n.status == "sent":
        click.echo(f"sent: test message delivered to {name} (notification {n.id})")
        return
    click.echo(f"error: test message to {name} not delivered: "
               f"{mask(n.last_error or n.status)}", err=True)
    sys.exit(1)
