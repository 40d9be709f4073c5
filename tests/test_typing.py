"""Strict tooling: mypy --strict on the package, ruff on everything (pyproject's settings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_strict_passes_on_the_package() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "takeover/"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_finds_no_unused_names_or_unsorted_imports() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "takeover", "tests", "bench"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_layers_hold_no_upward_import_and_no_cycle() -> None:
    """import-linter's contracts in pyproject.toml: cli > tools > server > app > notify > store >
    rules | control > config, the SDK alone, the pure core without I/O libraries."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    """The contract can fail: a store module importing the server is reported."""
    import shutil

    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "takeover", copy / "takeover", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    (copy / "takeover" / "store" / "upward.py").write_text("from takeover.server import service  # noqa\n")
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=copy, capture_output=True, text=True, timeout=300,
                            env={"PYTHONPATH": str(copy), "PATH": ""})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "takeover.store.upward -> takeover.server.service" in result.stdout
