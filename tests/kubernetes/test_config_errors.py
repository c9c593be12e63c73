"""A wrong kubeconfig, context or namespace, or an API server that does not answer: one clear
line on stderr, exit code 2, no traceback and none of urllib3's retry warnings."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.kubernetes.conftest import Kube


def _closed_port() -> int:
    with socket.socket() as s:  # a port nothing listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_line_error(result: object, *needles: str) -> str:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, (result.returncode, stderr)  # type: ignore[attr-defined]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("kontinue: error: "), stderr
    assert "Traceback" not in stderr and "Retrying" not in stderr
    for needle in needles:
        assert needle in lines[0], stderr
    return lines[0]


def _down_kubeconfig(kube: Kube) -> Path:
    """The test cluster's kubeconfig, its server moved to a port where nothing answers."""
    text = Path(kube.kubeconfig).read_text()
    lines = [
        f"    server: https://127.0.0.1:{_closed_port()}" if "server:" in line else line
        for line in text.splitlines()
    ]
    path = kube.tmp / "down.kubeconfig"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "command",
    [["list"], ["get", "x"], ["logs", "x"], ["cancel", "x"], ["worker"], ["submit", "hello"]],
)
def test_an_api_server_that_is_down_is_one_line_and_exit_2(kube: Kube, command: list[str]) -> None:
    down = _down_kubeconfig(kube)
    if command == ["submit", "hello"]:
        command = ["submit", str(Path(__file__).resolve().parents[2] / "pipelines/hello.yaml")]
        command += ["-p", "name=x"]
    argv = kube.argv(*command)
    argv[argv.index(kube.kubeconfig)] = str(down)

    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, cwd=kube.tmp, env=kube.env()
    )
    line = _one_line_error(result, "cannot reach the Kubernetes API server at https://127.0.0.1:")
    assert "Connection refused" in line and "Max retries" not in line


def test_a_file_that_is_not_a_kubeconfig_names_the_file(kube: Kube) -> None:
    for name, text in [("passwd", "root:x:0:0:root:/root:/bin/bash\n"), ("bad.yaml", "a: [1\n")]:
        path = kube.tmp / name
        path.write_text(text)
        argv = kube.argv("list")
        argv[argv.index(kube.kubeconfig)] = str(path)
        import subprocess

        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, cwd=kube.tmp, env=kube.env()
        )
        _one_line_error(result, f"kubeconfig {path} is not a valid kubeconfig")


def test_a_wrong_context_or_namespace_is_named(kube: Kube) -> None:
    _one_line_error(kube.cli("--context", "nope", "list"), "has no context 'nope'")
    missing = f"{kube.namespace}-missing"
    argv = kube.argv("submit", str(Path(__file__).resolve().parents[2] / "pipelines/hello.yaml"))
    argv[argv.index(kube.namespace)] = missing

    result = subprocess.run(
        [*argv, "-p", "name=x"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=kube.tmp,
        env=kube.env(),
    )
    _one_line_error(result, f'namespace "{missing}" does not exist')
