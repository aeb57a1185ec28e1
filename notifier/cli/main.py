"""The ``notifier`` command line: thin commands over the library.

:func:`main` is the group (the console script and ``python -m notifier`` call it); each
command group lives in a module of its own here and is registered below. Every command
takes ``--config PATH``; a :class:`~notifier.errors.NotifierError` becomes a message on
stderr and exit code 1, usage errors exit 2.
"""

from __future__ import annotations

import logging

import click

from . import (
    calendars,
    channels,
    cluster,
    daemon,
    dockets,
    dockets_review,
    feeds,
    reminders,
    sources,
    subscribers,
)
from .common import config_option


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@config_option
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
@click.version_option(package_name="notifier")
def main(verbose: bool) -> None:
    """Court-calendar notifications: track hearings, publish feeds, send reminders."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose and click.get_current_context().invoked_subcommand not in _DAEMONS:
        quiet_apprise()


# Long-running commands whose log is their output: Apprise's lines belong there.
_DAEMONS = ("run", "dispatch")


def quiet_apprise() -> None:
    """Keep Apprise's own log lines (``ERROR apprise: Unparseable URL ...``, a
    connection warning) out of a command's output: each command says what went wrong
    in its own words (Apprise's per-send capture still sees them: it has its own
    handler on the logger). ``-v`` shows them."""
    lg = logging.getLogger("apprise")
    lg.propagate = False
    if not any(isinstance(h, logging.NullHandler) for h in lg.handlers):
        lg.addHandler(logging.NullHandler())  # else Python's last-resort handler prints


for _command in (calendars.check, calendars.sync, calendars.events, calendars.history,
                 feeds.feed, reminders.reminders, daemon.run, daemon.dispatch,
                 channels.channels, sources.sources, dockets.dockets, cluster.cluster,
                 cluster.migrate, subscribers.subscribers):
    main.add_command(_command)
for _command in (dockets_review.review, dockets_review.accept, dockets_review.reject):
    dockets.dockets.add_command(_command)
