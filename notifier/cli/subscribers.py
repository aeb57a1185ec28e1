"""``notifier subscribers``: people following cases by email (masked), and ``forget``.
"""

from __future__ import annotations

import json

import click

from ..display import mask_email, table
from .common import config_option, get_ctx, handle_errors


@click.group(invoke_without_command=True)
@config_option
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_context
@handle_errors
def subscribers(click_ctx: click.Context, as_json: bool) -> None:
    """Subscribers with masked addresses and their state, and followers per case."""
    if click_ctx.invoked_subcommand is not None:
        return
    from ..notify.subscriptions import registry

    ctx = get_ctx()
    with ctx.store.read() as s:
        data = registry.listing(s)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    if not ctx.settings.subscriptions.enabled:
        click.echo("[subscriptions] enabled = false: nobody can sign up", err=True)
    if not data["subscribers"]:
        click.echo("no subscribers")
        return
    click.echo(table(["id", "address", "state", "subscriptions"],
                     [(x["id"], x["address"], x["state"],
                       ", ".join(f"{k} {v}" for k, v in sorted(x["subscriptions"].items())))
                      for x in data["subscribers"]]))
    click.echo("")
    click.echo(table(["case", "active", "pending", "unsubscribed"],
                     [(case, c.get("active", 0), c.get("pending", 0), c.get("unsubscribed", 0))
                      for case, c in data["cases"].items()]))


@subscribers.command()
@config_option
@click.argument("address")
@handle_errors
def forget(address: str) -> None:
    """Erase ADDRESS: its subscriptions, the emails sent to it and their history."""
    from ..errors import NotifierError
    from ..notify.subscriptions import registry

    try:
        normal = registry.normalise(address)
    except registry.AddressError as e:
        raise NotifierError(f"subscribers forget: {e}") from None
    ctx = get_ctx()
    with ctx.store.write() as s:
        sub = registry.find(s, normal)
        n = registry.forget(s, sub.id) if sub is not None and sub.id is not None else 0
    if n:
        click.echo(f"forgot {mask_email(normal)} ({n} rows deleted)")
    else:
        click.echo(f"no subscriber {mask_email(normal)}")
