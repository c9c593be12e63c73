"""Commands the CLI prints for the user to run next, written so they work when pasted.

A hint carries the global flags this process was given on its command line (`--state-dir`,
`-n`), so the pasted command talks to the same store and namespace, quoted for a POSIX shell.
"""

from __future__ import annotations

import shlex
from pathlib import Path

__all__ = ["command", "configure"]

_GLOBALS: list[str] = []


def configure(state_dir: Path | None, namespace: str) -> None:
    """Record the global flags that hints must repeat (an explicit state dir, a namespace)."""
    flags: list[str] = []
    if state_dir is not None:
        flags += ["--state-dir", str(state_dir)]
    if namespace != "default":
        flags += ["-n", namespace]
    _GLOBALS[:] = flags


def command(verb: str, *words: str) -> str:
    """`kontinue VERB WORDS...` with this process' global flags, quoted for a shell."""
    return shlex.join(["kontinue", verb, *words, *_GLOBALS])
