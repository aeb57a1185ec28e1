"""`notifier run` as a subprocess, for the tests that run the daemon as users do
(tests/test_daemon.py, the cluster tests through tests/clusterkit.py).

:class:`NotifierRun` starts it with a config file, collects its output (stdout and
stderr together) in a background thread, tells whether and where it serves, and stops
it with a signal, killing it when it does not exit in time.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path


class NotifierRun:
    """A `notifier run` subprocess; its output is collected in the background."""

    def __init__(self, config: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "notifier", "--config", str(config), "run", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def serving(self) -> bool:
        return "serving http://" in self.output

    @property
    def port(self) -> int:
        m = re.search(r"serving http://[^:/]+:(\d+)/", self.output)
        assert m, self.output[-2000:]
        return int(m.group(1))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` (unless it has exited) and return the exit status; a daemon
        still running after ``timeout`` seconds is killed (status -9)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        self.reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.reader.join(timeout=5)
