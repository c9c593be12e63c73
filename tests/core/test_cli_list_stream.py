"""`kontinue list -o yaml|json` streams: every Execution, one at a time, as one List document."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from kontinue.api import Execution, ExecutionSpec, ObjectMeta
from kontinue.store import open_store
from tests.conftest import CLI

N = 3000
MEMORY_LIMIT = 400 * 2**20  # data segment: the old whole-document rendering needed more


def _fill(state_dir: Path) -> None:
    store = open_store(state_dir, create=True)
    try:
        with store.batch():
            for i in range(N):
                store.create(
                    Execution(
                        metadata=ObjectMeta(name=f"ex-{i:05d}", labels={"team": "a"}),
                        spec=ExecutionSpec(function="f", arguments={"i": i, "pad": "x" * 2000}),
                    )
                )
    finally:
        store.close()


def _limited(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, preexec_fn=limit, check=False
    )


def test_list_streams_every_execution_as_one_list_within_bounded_memory(
    cli: CLI, state_dir: Path
) -> None:
    _fill(state_dir)
    base = [sys.executable, "-m", "kontinue", "--state-dir", str(state_dir), "list"]

    as_yaml = _limited([*base, "-o", "yaml"])
    assert as_yaml.returncode == 0, as_yaml.stderr[-2000:]
    doc = YAML(typ="safe").load(as_yaml.stdout)
    assert (doc["apiVersion"], doc["kind"]) == ("v1", "List")
    assert [e["metadata"]["name"] for e in doc["items"]] == [f"ex-{i:05d}" for i in range(N)]
    assert doc["items"][7]["spec"]["arguments"]["i"] == 7

    as_json = _limited([*base, "-o", "json", "-l", "team=a"])
    assert as_json.returncode == 0, as_json.stderr[-2000:]
    assert json.loads(as_json.stdout) == doc


def test_an_empty_list_is_still_a_list(cli: CLI) -> None:
    for fmt in ("json", "yaml"):
        got = cli("list", "-o", fmt, "-l", "nobody=here")
        assert got.returncode == 0, got.stderr
        loaded = json.loads(got.stdout) if fmt == "json" else YAML(typ="safe").load(got.stdout)
        assert loaded == {"apiVersion": "v1", "kind": "List", "items": []}
