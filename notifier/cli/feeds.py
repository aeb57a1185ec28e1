"""``notifier feed``: export the feeds as files; create, list and revoke private-feed tokens.
"""

from __future__ import annotations

import json

import click

from ..display import table
from ..errors import NotifierError
from .common import config_option, get_ctx, handle_errors


@click.group()
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

    from ..feeds.cache import FeedService
    from ..feeds.rendered import options_from

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

    from ..feeds.tokens import create_token

    ctx = get_ctx()
    defined: set[str] = set()
    if case_id is not None:  # a case in a calendar file may not be synced yet
        from ..calendars.folders import scan

        result = scan(ctx.settings.calendar_folders())
        defined = {c.id for cal in result.calendars for c in cal.cases}
    row, secret = create_token(ctx.store, case_id=case_id, label=label, defined=defined)
    base = ctx.settings.server.public_url()  # unset: localhost at [server] port
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
    from ..feeds.tokens import list_tokens

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
    from ..feeds.tokens import revoke_token

    row = revoke_token(get_ctx().store, token_id)
    click.echo(f"token {row.id} revoked")
