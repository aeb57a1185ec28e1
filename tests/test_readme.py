"""Every command the README shows, run by a test.

The first command runs as a new user would (fresh copy, fresh venv, daemon with the
demo up), then the "Everyday use" block runs verbatim in bash beside it; slow (it builds
a new virtualenv from the package index), so it runs when NOTIFIER_TEST_README=1 is set;
CI sets it. Every other `notifier` line runs here through click's runner against the
shipped calendars, the demo, a real json:// sink and a local source; the rest are mapped
to the test or CI step that runs them, and a README line no test runs fails the suite.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
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


def readme_lines() -> list[str]:
    """Every command line of every ``sh`` block, without its trailing comment."""
    out = []
    for block in readme_commands():
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def test_readme_starts_with_setup_and_test_commands() -> None:
    first, second = readme_commands()[:2]
    assert first.strip().endswith("notifier run --demo")
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
        demo = httpx.get(f"http://127.0.0.1:{port}/calendars/demo-state-v-example.ics",
                         timeout=10)
        assert demo.status_code == 200 and "Status hearing" in demo.text
        # The everyday block, verbatim, in a second shell beside the daemon.
        everyday = next(b for b in readme_commands() if b.startswith(". .venv/bin/activate"))
        done = subprocess.run(["bash", "-ec", everyday], cwd=clone, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "demo-state-v-example" in done.stdout
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=60)
        log.close()
    assert code == 0, (tmp_path / "out.log").read_text()[-3000:]


# README lines run elsewhere: the prefix, and the test or CI step that runs it.
ELSEWHERE = {
    "python3 -m venv .venv && .venv/bin/pip install -e . &&": "test_first_readme_command_...",
    "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' &&": ".ci/run (checked above)",
    ". .venv/bin/activate": "test_first_readme_command_... (the everyday block in bash)",
    "docker build": "tests/test_container.py (podman build)",
    "docker run": "tests/test_container.py (podman run)",
    "docker exec notifier notifier": "tests/test_container.py (podman exec ... notifier)",
    "podman build": "tests/test_container.py",
    ".venv/bin/pytest -q": "this suite itself",
    ".venv/bin/lint-imports": "tests/test_layers.py",
    # They need a docket source with facts waiting for review: a fetched PACER RSS feed.
    "notifier dockets review": "tests/test_dockets_rss_review.py (review, accept, reject)",
    "notifier dockets accept": "tests/test_dockets_rss_review.py",
    "notifier dockets reject": "tests/test_dockets_rss_review.py",
}


# Lines whose right answer here is an error (nothing is held for `accept` to apply).
EXPECTED_ERROR = {"notifier sources accept part-99": "source 'part-99' has no held changes"}


def _is_elsewhere(line: str) -> bool:
    return any(line.startswith(prefix) for prefix in ELSEWHERE)


@pytest.fixture
def readme_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh clone's folder: shipped calendars plus the demo, a config with one real
    json:// channel named NAME's stand-in and the README's source ``part-99``."""
    from datetime import UTC, datetime, timedelta

    from channelkit import HttpSink

    from notifier.calendars.demo import demo_calendar

    shutil.copytree(REPO / "calendars", tmp_path / "calendars")
    (tmp_path / "calendars" / "demo.toml").write_text(demo_calendar(
        datetime.now(UTC), lead=timedelta(minutes=3), changed=False))
    (tmp_path / "part99.ics").write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//court//EN\r\nBEGIN:VEVENT\r\n"
        "UID:part99-1\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20991103T150000Z\r\n"
        "SUMMARY:Hearing\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    (tmp_path / "entries.json").write_text(
        '[{"description": "Sentencing reset to 10/20/2027 at 2:30 PM.", '
        '"date_filed": "2027-06-01"}]')
    with HttpSink() as sink:
        (tmp_path / "config.toml").write_text(
            '[[channels]]\nname = "desk"\nurl = "' + sink.json_url() + '"\n\n'
            '[[sources]]\nname = "part-99"\nurl = "part99.ics"\nformat = "ics"\n'
            'case = "people-v-weinstein"\ntimezone = "America/New_York"\n')
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
        yield tmp_path


def test_every_readme_command_is_run_by_a_test(readme_project: Path) -> None:
    from click.testing import CliRunner

    from notifier.cli import main

    ran = []
    for line in readme_lines():
        if _is_elsewhere(line):
            continue
        if line.startswith(("notifier ", ".venv/bin/notifier ")):
            args = shlex.split(line)[1:]
            args = ["desk" if a == "NAME" else "1" if a == "ID" else a for a in args]
            r = CliRunner().invoke(main, args)
            if line in EXPECTED_ERROR:
                assert r.exit_code == 1 and EXPECTED_ERROR[line] in r.output, r.output
            else:
                assert r.exit_code == 0, f"{line!r}: {r.output[-1500:]}"
            if r.exception and not isinstance(r.exception, SystemExit):
                raise r.exception
            ran.append(line)
        elif line.startswith(".venv/bin/ruff "):
            done = subprocess.run([str(REPO / ".venv" / "bin" / "ruff"), *shlex.split(line)[1:]],
                                  cwd=REPO, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stdout[-1500:]
            ran.append(line)
        elif line.startswith(".venv/bin/python bench/run.py"):
            done = subprocess.run([sys.executable, str(REPO / "bench" / "run.py"), "--help"],
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0 and "--quick" in done.stdout
            ran.append(line)
        else:
            pytest.fail(f"the README shows {line!r}, which no test runs: run it here or "
                        "map it in ELSEWHERE")
    assert len(ran) >= 15, ran  # everyday use, channels and sources blocks
