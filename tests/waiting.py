"""Bounded waits for tests: poll a condition until it holds or a time limit passes.

:func:`until` answers whether the condition came true in time; :func:`wait_for` fails
the test with what was awaited (and, optionally, the output of whatever was being
watched, such as a daemon's log).
"""

from __future__ import annotations

import time
from collections.abc import Callable


def until(cond: Callable[[], object], limit: float, step: float = 0.05) -> bool:
    """True as soon as ``cond()`` is truthy; after ``limit`` seconds, one last look."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())


def wait_for(cond: Callable[[], object], limit: float, what: str,
             output: Callable[[], str] = lambda: "", step: float = 0.1) -> None:
    """Return once ``cond()`` is truthy, else fail naming ``what`` (and ``output()``)."""
    if not until(cond, limit, step):
        tail = output()[-3000:]
        raise AssertionError(f"timed out after {limit}s waiting for {what}"
                             + (f"\n{tail}" if tail else ""))
