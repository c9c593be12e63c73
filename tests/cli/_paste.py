"""Hints the CLI prints, executed exactly as printed (the copy-paste test's helper)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

HINT = re.compile(r"(?:with:|shows the stack|follow it with)\s*`?(kontinue [^`\n]+)`?")


def hints(text: str) -> list[str]:
    """Every `kontinue ...` command a hint line of `text` tells the user to run."""
    found = []
    for line in text.splitlines():
        match = HINT.search(line)
        if match:
            found.append(match.group(1).strip())
        elif line.strip().startswith("gate ") or line.strip().startswith("sleep "):
            _, _, cmd = line.partition("): ")
            if cmd.startswith("kontinue "):
                found.append(cmd.strip())
    return found


def paste(command: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `command` in a POSIX shell, as a user pasting it would (`kontinue` on the PATH)."""
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "CI": "true",
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
    }
    assert command.startswith("kontinue "), command
    return subprocess.run(
        command,
        shell=True,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
        check=False,
    )
