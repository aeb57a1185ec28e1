"""``python -m notifier`` runs the command line (same as the ``notifier`` script)."""

from .cli import main

main()
