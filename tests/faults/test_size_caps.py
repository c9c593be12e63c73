"""Issue 9 item 4: size caps on what an Execution stores — arguments, a function's result, a
step's recorded outcome, a gate's resume inputs — each with a clear error naming the
Execution (and step) and the limit, exit 2 at the CLI, and nothing huge written.

Real CLI processes on a real SQLite file; the caps are lowered through their environment
variables where the command line could not carry a value over the real cap.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from kontinue.api import Execution
from kontinue.store import open_store
from tests.conftest import CLI
from tests.faults import fns_faults

FNS = str(Path(fns_faults.__file__))
HEAD = "apiVersion: kontinue.cloud/v1alpha1\nkind: Pipeline\nmetadata:\n"


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [ln for ln in stderr.splitlines() if ln.startswith("kontinue: error")]
    assert len(errors) == 1, stderr
    return errors[0]


def _stored(db: Path, text: str) -> bool:
    """Whether any row of the store (objects, change log, journal) holds `text`."""
    with closing(sqlite3.connect(db)) as conn:
        return any(
            conn.execute(f"SELECT 1 FROM {table} WHERE instr(body, ?) > 0", (text,)).fetchone()
            for table in ("objects", "events", "journal")
        )


def test_arguments_over_the_cap_are_refused_naming_the_execution(
    cli: CLI, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KONTINUE_MAX_ARGUMENT_BYTES", "2000")
    done = cli(
        "execute", "big-result", "--import", FNS, "--name", "fat", "--no-wait",
        "-a", "blob=" + "a" * 3000,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    line = _one_error_line(done.stderr)
    assert 'the arguments of Execution "fat"' in line
    assert "over the limit of 2,000 (KONTINUE_MAX_ARGUMENT_BYTES)" in line
    assert "by reference" in line
    assert open_store(state_dir).list(Execution) == []  # nothing was created
    # within the cap: accepted
    ok = cli("execute", "big-result", "--import", FNS, "--name", "thin", "-a", "size=10")
    assert ok.returncode == 0, ok.stderr


def test_pipeline_params_over_the_cap_are_refused(
    cli: CLI, state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        f"{HEAD}  name: p\nparams:\n  type: object\n  properties:\n    note: {{type: string}}\n"
        "steps:\n  - name: hello\n    script:\n      image: alpine:3.20\n"
        "      command: echo hi\n"
    )
    monkeypatch.setenv("KONTINUE_MAX_ARGUMENT_BYTES", "2000")
    done = cli("submit", str(pipeline), "--name", "pp", "-p", "note=" + "n" * 3000)
    assert done.returncode == 2, done.stderr
    line = _one_error_line(done.stderr)
    assert 'the params of Execution "pp"' in line and "KONTINUE_MAX_ARGUMENT_BYTES" in line
    assert open_store(state_dir).list(Execution) == []


def test_a_result_over_the_cap_fails_the_execution_without_retry(cli: CLI, state_dir: Path) -> None:
    done = cli("execute", "big-result", "--import", FNS, "--name", "r", "-a", "size=1500000")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    ex = open_store(state_dir).get(Execution, "default", "r")
    assert ex.status.phase == "Failed", ex.status
    assert ex.status.result is None
    assert ex.status.error is not None and ex.status.error.retryable is False
    message = ex.status.error.message
    assert 'the result of Execution "r" is 1,500,002 bytes' in message, message
    assert "over the limit of 1,000,000 (KONTINUE_MAX_RESULT_BYTES)" in message
    assert "return a smaller result" in message
    assert ex.status.attempts == 0  # failed once, not retried
    # the 1.5 MB value was never written anywhere in the store
    assert not _stored(state_dir / "kontinue.db", "R" * 1000)


def test_a_step_outcome_over_the_cap_fails_naming_the_step(
    cli: CLI, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KONTINUE_MAX_RESULT_BYTES", "50000")
    done = cli("execute", "big-step", "--import", FNS, "--name", "s", "-a", "size=60000")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    ex = open_store(state_dir).get(Execution, "default", "s")
    assert ex.status.phase == "Failed"
    assert ex.status.error is not None and ex.status.error.retryable is False
    message = ex.status.error.message
    assert 'step "fetch-report" of Execution "s" recorded 60,' in message, message
    assert "over the limit of 50,000 per step (KONTINUE_MAX_RESULT_BYTES" in message
    # a final failure: the function's three retries are not spent on it
    assert ex.status.attempts == 0
    assert open_store(state_dir).read_journal("default", "s") == []
    assert not _stored(state_dir / "kontinue.db", "S" * 1000)
    # the same step within the cap records and completes
    ok = cli("execute", "big-step", "--import", FNS, "--name", "t", "-a", "size=40000")
    assert ok.returncode == 0, ok.stderr


def test_resume_inputs_over_the_cap_are_refused_and_the_gate_stays_open(
    cli: CLI, state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = tmp_path / "gate.yaml"
    pipeline.write_text(
        f"{HEAD}  name: gate\nsteps:\n  - name: approve\n    suspend:\n      inputs:\n"
        "        type: object\n        properties:\n          reason: {type: string}\n"
    )
    first = cli("submit", str(pipeline), "--name", "g")
    assert first.returncode == 0, first.stderr
    monkeypatch.setenv("KONTINUE_MAX_INPUT_BYTES", "500")
    done = cli("resume", "g", "approve", "--input", "reason=" + "i" * 600)
    assert done.returncode == 2, done.stderr
    line = _one_error_line(done.stderr)
    assert 'the inputs for step "approve" of Execution "g"' in line, line
    assert "over the limit of 500 (KONTINUE_MAX_INPUT_BYTES)" in line
    assert "waiting" in cli("tree", "g").stdout
    ok = cli("resume", "g", "approve", "--input", "reason=fine")
    assert ok.returncode == 0, ok.stderr
    assert open_store(state_dir).get(Execution, "default", "g").status.phase == "Completed"
