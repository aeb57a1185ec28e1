"""The container image: build, start with a data volume, serve, stop on SIGTERM, restart.

Needs podman and a base image: CI runs ``../shared/tools/container-base.sh`` and sets
NOTIFIER_TEST_CONTAINER_BASE to the image it prints (localhost/notifier-base:bookworm).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BASE = os.environ.get("NOTIFIER_TEST_CONTAINER_BASE")
pytestmark = pytest.mark.skipif(
    not BASE or not shutil.which("podman"),
    reason="container test needs podman and a base image: run "
    "../shared/tools/container-base.sh and set NOTIFIER_TEST_CONTAINER_BASE (CI does)")


def podman(*args: str, timeout: float = 120, check: bool = True) -> str:
    r = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed: {r.stderr[-2000:]}")
    return r.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(port: int, name: str, limit: float = 90) -> dict[str, object]:
    deadline = time.monotonic() + limit
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as r:
                return json.loads(r.read())  # type: ignore[no-any-return]
        except OSError as e:
            last = str(e)
        time.sleep(0.5)
    logs = podman("logs", name, check=False)
    raise AssertionError(f"container not healthy after {limit}s ({last}); logs:\n{logs[-3000:]}")


def history(name: str) -> list[dict[str, object]]:
    out = podman("exec", name, "notifier", "history", "people-v-weinstein/hearing-2025-07-02",
                 "--json")
    return json.loads(out)  # type: ignore[no-any-return]


def test_image_serves_stops_cleanly_and_keeps_its_database() -> None:
    tag = "localhost/notifier:citest"
    podman("build", "--build-arg", f"BASE_IMAGE={BASE}", "-v", "/etc/ssl/certs:/etc/ssl/certs:ro",
           "-t", tag, str(REPO), timeout=1500)
    volume = f"notifier-citest-{uuid.uuid4().hex[:8]}"
    name = f"{volume}-run"
    port = free_port()
    podman("volume", "create", volume)
    try:
        podman("run", "-d", "--name", name, "-e", f"NOTIFIER_PORT={port}",
               "-v", f"{volume}:/data", tag)
        health = wait_healthy(port, name)
        assert health["status"] == "ok"
        with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/calendars/people-v-weinstein.ics", timeout=5) as r:
            body = r.read().decode()
            assert r.headers["Content-Type"].startswith("text/calendar")
        assert "BEGIN:VCALENDAR" in body and "Hearing" in body
        first = history(name)
        assert [h["kind"] for h in first] == ["added"]

        podman("stop", "--time", "30", name, timeout=60)  # SIGTERM, then wait
        state = json.loads(podman("inspect", name))[0]["State"]
        assert state["ExitCode"] == 0, podman("logs", name, check=False)[-3000:]
        podman("rm", name)

        podman("run", "-d", "--name", name, "-e", f"NOTIFIER_PORT={port}",
               "-v", f"{volume}:/data", tag)
        wait_healthy(port, name)
        assert history(name) == first  # same rows: the database survived on the volume
    finally:
        podman("rm", "-f", name, check=False)
        podman("volume", "rm", "-f", volume, check=False)
