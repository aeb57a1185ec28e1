"""The README's first command, run as a new user would: fresh copy, fresh venv, daemon up.

Slow (it builds a new virtualenv from the package index), so it runs when
NOTIFIER_TEST_README=1 is set; CI sets it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
slow = pytest.mark.skipif(
    os.environ.get("NOTIFIER_TEST_README") != "1",
    reason="slow: builds a fresh virtualenv from the package index; set "
    "NOTIFIER_TEST_README=1 to run it (CI does)")


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.*?)\n```", text, flags=re.S)


def test_readme_starts_with_setup_and_test_commands() -> None:
    first, second = readme_commands()[:2]
    assert first.strip().endswith("notifier run")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert second.strip() in ci  # CI runs the README's test command verbatim


@slow
def test_first_readme_command_sets_up_and_runs_the_daemon(tmp_path: Path) -> None:
    command = readme_commands()[0].strip()
    clone = tmp_path / "clone"
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in files:
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, clone / name)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFIER_", "VIRTUAL_ENV"))}
    env["NOTIFIER_PORT"] = str(port)
    log = (tmp_path / "out.log").open("w")
    proc = subprocess.Popen(["bash", "-c", command], cwd=clone, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        up = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                up = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                up = False
            if up:
                break
            time.sleep(1)
        assert up, (tmp_path / "out.log").read_text()[-3000:]
        feed = httpx.get(f"http://127.0.0.1:{port}/calendars/people-v-weinstein.ics", timeout=10)
        assert feed.status_code == 200 and "Hearing" in feed.text
        assert (clone / "data" / "notifier.db").exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=60)
        log.close()
    assert code == 0, (tmp_path / "out.log").read_text()[-3000:]
