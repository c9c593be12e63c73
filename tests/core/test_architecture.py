"""Layers call only downward: the import-linter contracts in pyproject.toml hold."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run(
        [lint, str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: " in result.stdout and " broken" in result.stdout


def test_the_sdk_contract_is_declared_and_bites(tmp_path: Path) -> None:
    """`kontinue.sdk` may not import the store or the runners: a copy that does is refused."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    sdk = [c for c in contracts if c.get("source_modules") == ["kontinue.sdk"]]
    assert sdk and set(sdk[0]["forbidden_modules"]) >= {"kontinue.store", "kontinue.runners"}
    shutil.copytree(ROOT / "kontinue", tmp_path / "kontinue", ignore=_no_caches)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    values = tmp_path / "kontinue" / "sdk" / "_values.py"
    values.write_text(values.read_text() + "\nfrom kontinue.store import AlreadyExistsError\n")
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run(
        [lint, "--config", str(tmp_path / "pyproject.toml"), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode != 0, result.stdout
    assert "kontinue.sdk._values -> kontinue.store" in result.stdout


def _no_caches(_: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__"]
