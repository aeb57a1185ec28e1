"""``notifier cluster`` (the daemons sharing this database) and ``notifier migrate``.
"""

from __future__ import annotations

import json

import click

from ..display import table
from .common import config_option, get_ctx, handle_errors


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@handle_errors
def cluster(as_json: bool) -> None:
    """The live daemons on this database: role, version, config fingerprint, leader.

    Warns (and exits 1) when their versions, config fingerprints or channels differ,
    or when no daemon leads."""
    from ..server.cluster import config_fingerprint, live_daemons, mismatches
    from ..timeutil import utcnow

    ctx = get_ctx()
    if ctx.store.dialect != "postgresql":
        click.echo("this database is SQLite: one daemon, no cluster")
        return
    daemons = live_daemons(ctx.store, ctx.settings, utcnow())
    problems = mismatches(daemons)
    if as_json:
        click.echo(json.dumps({
            "daemons": [{"id": d.id, "host": d.host, "pid": d.pid, "role": d.role,
                         "may_lead": d.may_lead, "leader": d.leader, "version": d.version,
                         "config": d.config_fp, "channels": list(d.channels),
                         "started_at": d.started_at.isoformat(timespec="seconds"),
                         "heartbeat_at": d.heartbeat_at.isoformat(timespec="seconds")}
                        for d in daemons],
            "local_config": config_fingerprint(ctx.settings), "warnings": problems}, indent=2))
    elif not daemons:
        click.echo("no live daemons")
    else:
        rows = [(d.host, d.pid, d.role + ("" if d.may_lead else " (no lead)"),
                 "yes" if d.leader else "", d.version, d.config_fp, ", ".join(d.channels),
                 f"{d.heartbeat_at:%H:%M:%S}") for d in daemons]
        click.echo(table(["host", "pid", "role", "leader", "version", "config", "channels",
                          "heartbeat (UTC)"], rows, max_width=60))
        click.echo(f"this config: {config_fingerprint(ctx.settings)}")
    for p in problems:
        click.echo(f"warning: {p}", err=True)
    if problems:
        raise SystemExit(1)


@click.command()
@config_option
@handle_errors
def migrate() -> None:
    """Bring the database schema up to date, then exit (before a rolling upgrade)."""
    store = get_ctx().store  # opening the store migrates (one process at a time)
    click.echo(f"database schema at revision {store.current_revision()}")
