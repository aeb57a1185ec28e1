"""The ``notifier`` command: one module per command group, thin over the library.

Owns: argument parsing, output formatting, exit codes. May import: everything
(nothing imports this package). Shared helpers (``--config``, error handling, the
lazily opened settings and store) are in :mod:`.common`; :func:`main` is the group.
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
