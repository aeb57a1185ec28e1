"""``python -m notifier`` runs the command line (same as the ``notifier`` script)."""

from notifier.cli import main

main()
