"""The package layout is the architecture: the import contracts in pyproject.toml hold.

``[tool.importlinter]`` declares the layers (cli > server > notify > feeds|sources >
tracking > calendars|store > logs|metrics > config > specs|display > timeutil|errors)
and forbids import cycles between siblings. These tests run import-linter on the real
package, and on copies with one wrong import added, to show the contracts catch it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = ("import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    # lint_imports puts the working directory first on sys.path, so a copy is analysed
    # instead of the installed package.
    return subprocess.run([sys.executable, "-c", LINT], cwd=project, capture_output=True,
                          text=True, timeout=120)


def test_the_package_keeps_every_contract() -> None:
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(("module", "line", "broken"), [
    # A lower layer importing a higher one.
    ("store/database.py", "from ..notify import outbox", "Layers follow the data"),
    ("feeds/cache.py", "from ..server import web", "Layers follow the data"),
    ("tracking/sync.py", "from ..cli import common", "Layers follow the data"),
    ("config/base.py", "from ..store import models", "Layers follow the data"),
    # Siblings of one layer are independent of each other.
    ("sources/poll.py", "from ..feeds import tokens", "Layers follow the data"),
    # Inside a package: dispatch imports planner, so planner importing dispatch is a cycle.
    ("notify/planner.py", "from . import dispatch", "No import cycles"),
])
def test_a_wrong_import_breaks_a_contract(tmp_path: Path, module: str, line: str,
                                          broken: str) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "notifier", tmp_path / "notifier",
                    ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "notifier" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    done = _lint(tmp_path)
    assert done.returncode != 0, done.stdout
    assert f"{broken}" in done.stdout and "BROKEN" in done.stdout, done.stdout


def test_a_new_top_level_module_must_be_placed_in_a_layer(tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "notifier", tmp_path / "notifier",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "notifier" / "unplaced.py").write_text('"""Not yet placed."""\n')
    done = _lint(tmp_path)
    assert done.returncode != 0, done.stdout
    assert "unplaced" in done.stdout + done.stderr
