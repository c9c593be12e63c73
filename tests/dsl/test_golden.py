"""Every example in pipelines/ compiles to its checked-in golden plan.

Regenerate the golden files after an intended change with::

    KONTINUE_UPDATE_GOLDEN=1 pytest tests/dsl/test_golden.py

(never in CI: a missing or different golden file fails the test there).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kontinue.dsl import compile_pipeline, validate_file

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLES = sorted((ROOT / "pipelines").glob("*.yaml"))
UPDATE = os.environ.get("KONTINUE_UPDATE_GOLDEN") == "1" and not os.environ.get("CI")


def test_there_are_examples() -> None:
    names = {path.stem for path in EXAMPLES}
    assert {"hello", "build-test-deploy", "custom-step", "fan-out"} <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_compiles_to_its_golden_plan(example: Path) -> None:
    assert validate_file(example) == []
    text = compile_pipeline(example).to_json() + "\n"
    golden = GOLDEN / f"{example.stem}.plan.json"
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden plan; run KONTINUE_UPDATE_GOLDEN=1 pytest {__file__}"
    assert text == golden.read_text(encoding="utf-8"), (
        f"{example.name} no longer compiles to {golden.name}; if the change is intended, "
        "regenerate with KONTINUE_UPDATE_GOLDEN=1"
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_the_plan_holds_nothing_machine_specific(example: Path) -> None:
    text = compile_pipeline(example).to_json()
    for secret in (str(ROOT), str(Path.home()), os.getcwd()):
        assert secret not in text
    assert '"source": "' + example.name + '"' in text


def test_plans_do_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = ROOT / "pipelines" / "fan-out.yaml"
    absolute = compile_pipeline(example)
    monkeypatch.chdir(example.parent)
    assert compile_pipeline("fan-out.yaml") == absolute
    monkeypatch.chdir(tmp_path)
    assert compile_pipeline(os.path.relpath(example, tmp_path)) == absolute
