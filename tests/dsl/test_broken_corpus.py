"""Every broken pipeline in tests/dsl/broken yields the diagnostics its `# expect:` lines name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kontinue.dsl import Diagnostic, PipelineError, compile_pipeline, validate_file

ROOT = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).resolve().parent / "broken"
CASES = sorted(BROKEN.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (?P<line>\d+):(?P<col>\d+): (?P<text>.+)$")


def _expectations(path: Path) -> list[tuple[int, int, str]]:
    found = []
    for text in path.read_text(encoding="utf-8").splitlines():
        match = EXPECT.match(text)
        if match:
            found.append((int(match["line"]), int(match["col"]), match["text"].strip()))
    return found


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 45
    assert all(_expectations(case) for case in CASES), "every case needs an # expect: line"


@pytest.mark.parametrize("case", CASES, ids=[case.stem for case in CASES])
def test_broken_pipeline_reports_expected_diagnostics(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # diagnostics name files as given: relative to the repository
    name = _relative(case)
    diagnostics = validate_file(name)
    shown = "\n".join(str(d) for d in diagnostics)
    for line, col, text in _expectations(case):
        matching = [d for d in diagnostics if d.file == name and (d.line, d.col) == (line, col)]
        assert any(text in str(d) for d in matching), (
            f"expected {name}:{line}:{col}: ...{text}...\ngot:\n{shown}"
        )
    for diagnostic in diagnostics:
        assert diagnostic.line >= 1 and diagnostic.col >= 1
        assert "\n" not in str(diagnostic)
        assert "Traceback" not in str(diagnostic)
    assert len(set(diagnostics)) == len(diagnostics), "a problem is reported twice"


@pytest.mark.parametrize("case", CASES[:5] + CASES[-5:], ids=lambda c: c.stem)
def test_compile_raises_with_the_same_diagnostics(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    name = _relative(case)
    with pytest.raises(PipelineError) as caught:
        compile_pipeline(name)
    assert caught.value.diagnostics == validate_file(name)
    for diagnostic in caught.value.diagnostics:
        assert str(diagnostic) in str(caught.value)


def test_several_problems_are_all_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    diagnostics = validate_file(_relative(BROKEN / "52-several-errors.yaml"))
    assert len(diagnostics) == 6
    assert diagnostics == sorted(diagnostics, key=lambda d: (d.line, d.col))


def test_a_cycle_is_reported_at_every_call_in_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    diagnostics = validate_file(_relative(BROKEN / "31-call-cycle.yaml"))
    files = {Path(d.file).name for d in diagnostics if "form a cycle" in d.message}
    assert files == {"31-call-cycle.yaml", "cycle-b.yaml"}


def test_a_missing_file_is_a_diagnostic(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    [diagnostic] = validate_file(missing)
    assert diagnostic == Diagnostic(
        str(missing), 1, 1, f"cannot read {missing}: No such file or directory"
    )
