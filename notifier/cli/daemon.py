"""``notifier run`` (the daemon), ``serve`` and ``dispatch``: the long-running commands.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from .common import config_option, get_ctx, handle_errors


@click.command()
@config_option
@click.option("--host", metavar="HOST", help="Listen address (default: [server] host).")
@click.option("--port", type=click.IntRange(0, 65535), metavar="PORT", envvar="NOTIFIER_PORT",
              help="Port (default: [server] port; env NOTIFIER_PORT).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              envvar="NOTIFIER_LOG_FORMAT", show_default=True,
              help="Readable lines or JSON lines (env NOTIFIER_LOG_FORMAT).")
@click.option("--shutdown-timeout", type=float, default=20.0, show_default=True,
              metavar="SECONDS", help="How long in-flight deliveries may take on SIGTERM.")
@click.option("--role", type=click.Choice(["all", "worker", "web"]), default="all",
              envvar="NOTIFIER_ROLE", show_default=True,
              help="Several daemons on PostgreSQL: 'web' only serves HTTP (no sending, no "
                   "sync); 'worker' and 'all' also send, and may lead (env NOTIFIER_ROLE).")
@click.option("--lead/--no-lead", default=True, envvar="NOTIFIER_LEAD", show_default=True,
              help="Whether this daemon may become the leader that syncs calendars, polls "
                   "sources and plans (env NOTIFIER_LEAD).")
@click.option("--demo", is_flag=True,
              help="Also write calendars/demo.toml (dates relative to now): a reminder "
                   "due in 3 minutes, then a hearing moved a minute later.")
@handle_errors
def run(host: str | None, port: int | None, log_format: str, shutdown_timeout: float,
        role: str, lead: bool, demo: bool) -> None:
    """The daemon: sync, reminders and alerts, and the HTTP server, until SIGTERM/SIGINT."""
    from ..logs import setup_logging
    from ..server.daemon import run as run_daemon

    verbose = click.get_current_context().find_root().params.get("verbose", False)
    setup_logging("json" if log_format == "json" else "text",
                  logging.DEBUG if verbose else logging.INFO)
    sys.exit(run_daemon(get_ctx().settings, host=host, port=port,
                        shutdown_timeout=shutdown_timeout, role=role, may_lead=lead,
                        demo=demo))


@click.command()
@config_option
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@handle_errors
def dispatch(once: bool) -> None:
    """Only send due notifications from the outbox until SIGTERM/SIGINT (or once)."""
    import signal

    from ..notify.dispatch import Dispatcher
    from ..server.cluster import Cluster

    ctx = get_ctx()
    logging.getLogger("notifier.notifications").setLevel(logging.INFO)
    # Beside daemons on PostgreSQL: never take rows of channels they know and this
    # config does not (a worker that never leads).
    cluster = Cluster(ctx.store, ctx.settings, role="worker", may_lead=False)
    cluster.start()
    # Links in messages (base_url unset) point at the daemon on [server] port.
    dispatcher = Dispatcher(ctx.store, ctx.settings.listening_on(ctx.settings.server.port),
                            protected=cluster.protected if cluster.shared else None)
    if once:
        stats = dispatcher.run_once()
        cluster.stop()
        click.echo(f"sent {stats.sent}, failed {stats.failed}, dead {stats.dead}, "
                   f"withdrawn {stats.withdrawn}, missed {stats.missed}")
        return

    def _stop(_sig: int, _frame: Any) -> None:
        dispatcher.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        dispatcher.serve()
    finally:
        cluster.stop()
