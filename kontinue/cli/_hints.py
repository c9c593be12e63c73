"""Commands the CLI prints for the user to run next, written so they work when pasted.

A hint carries the global flags this process was given on its command line (`--state-dir`,
`-n`), so the pasted command talks to the same store and namespace, quoted for a POSIX shell.
"""

from __future__ import annotations

import shlex
from typing import Any

__all__ = ["command", "configure"]

_GLOBALS: list[str] = []


def configure(args: Any) -> None:
    """Record the global flags that hints must repeat: an explicit state dir, a namespace,
    the Kubernetes store and how it was reached."""
    flags: list[str] = []
    if getattr(args, "state_dir", None) is not None:
        flags += ["--state-dir", str(args.state_dir)]
    if getattr(args, "store", None) == "kubernetes":
        flags += ["--store", "kubernetes"]
        for flag in ("kubeconfig", "context"):
            if getattr(args, flag, None):
                flags += [f"--{flag}", str(getattr(args, flag))]
    namespace = getattr(args, "namespace", None)
    if namespace not in (None, "default"):
        flags += ["-n", str(namespace)]
    _GLOBALS[:] = flags


def command(verb: str, *words: str) -> str:
    """`kontinue VERB WORDS...` with this process' global flags, quoted for a shell."""
    return shlex.join(["kontinue", verb, *words, *_GLOBALS])
