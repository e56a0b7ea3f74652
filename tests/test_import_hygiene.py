"""Import hygiene: the core never imports Textual/Rich; the CLIs start without torch.

Each check runs in a fresh interpreter, so nothing another test imported can hide a leak.
"""

from __future__ import annotations

import json
import pkgutil
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import synapse_core

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "trl", "peft", "unsloth", "llama_cpp")
UI = ("textual", "textual_plotext", "plotext", "synapse_tui")
"""Never in sys.modules after importing core. (``rich`` may arrive indirectly through
transformers/trl, which core imports to train; a *direct* ``import rich`` in core is caught by
the import-linter contract below.)"""


def core_modules() -> list[str]:
    """Every module of synapse_core (found on disk, not by importing them)."""
    found = ["synapse_core"]
    for info in pkgutil.walk_packages(synapse_core.__path__, "synapse_core."):
        found.append(info.name)
    return sorted(found)


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ui_modules_after_import(names: list[str]) -> list[str]:
    code = f"""
import importlib, json, sys
for name in {names!r}:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {UI!r})[:5]))
"""
    return _run(code)


def test_core_modules_import_no_ui() -> None:
    modules = core_modules()
    assert "synapse_core.training.engine" in modules and "synapse_core.config" in modules
    # All modules in one fresh interpreter first (fast); only on a leak, one interpreter
    # per module to name the culprits.
    if not _ui_modules_after_import(modules):
        return
    leaks = {name: bad for name in modules if (bad := _ui_modules_after_import([name]))}
    assert leaks == {}, f"core modules importing UI packages: {leaks}"


@pytest.mark.parametrize("entry", ["synapse_core.cli", "synapse_tui.__main__"])
def test_help_imports_no_torch(entry: str) -> None:
    """``synapse --help`` / ``synapse-tui --help``: parse and print help, then list modules."""
    code = f"""
import contextlib, io, json, sys, time
t0 = time.perf_counter()
from {entry} import main
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    try:
        main(["--help"])
    except SystemExit:
        pass
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})
print(json.dumps({{"seconds": time.perf_counter() - t0, "heavy": heavy[:5],
                  "help": len(buf.getvalue())}}))
"""
    result = _run(code)
    print(f"{entry} --help: {result['seconds'] * 1000:.0f} ms in-process")
    assert result["help"] > 100, "help text was printed"
    assert result["heavy"] == [], f"{entry} --help imported {result['heavy']}"


def test_app_module_imports_no_torch() -> None:
    """Starting the app imports every pane (the app module imports them all); none may pull
    torch/transformers at import."""
    code = f"""
import json, sys
import synapse_tui.app
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})[:5]))
"""
    assert _run(code) == []


def test_help_wall_time_is_printed() -> None:
    """The installed ``synapse-tui --help`` as a user runs it (timed, not asserted: CI
    machines vary; the module checks above are the guarantee)."""
    exe = shutil.which("synapse-tui", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("synapse-tui is not installed in this environment")
    t0 = time.perf_counter()
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=60)
    print(f"synapse-tui --help: {(time.perf_counter() - t0) * 1000:.0f} ms wall")
    assert out.returncode == 0 and "usage: synapse-tui" in out.stdout


def test_import_linter_contract() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("import-linter is not installed in this environment")
    out = subprocess.run([exe], capture_output=True, text=True, cwd=ROOT, timeout=300)
    print(out.stdout[-2000:])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "KEPT" in out.stdout
