"""Showing a run as it goes: a live `rich` tree on a terminal, one line per change elsewhere.

On a TTY the tree of steps (phase, spinner or progress bar, duration, message) is redrawn in
place; when the run stops the last tree stays as the summary. Off a TTY (CI, pipes) each step
prints one line when its phase or progress really changes. With `--log` the output of script,
job and pod steps is printed as it comes, each line prefixed by its step.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from kontinue.api import Execution, JobEntry
from kontinue.cli._hints import command
from kontinue.cli._tree import DONE, Node, build, flatten
from kontinue.store import Store

__all__ = ["Display", "use_color"]

_SPIN = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_STYLE = {
    "Completed": "green",
    "Failed": "bold red",
    "Canceled": "red",
    "Running": "cyan",
    "Retrying": "yellow",
    "Waiting": "bold magenta",
    "Sleeping": "blue",
    "Pending": "dim",
    "Skipped": "dim",
}
_ICON = {
    "Completed": "✔",
    "Failed": "✖",
    "Canceled": "✖",
    "Skipped": "-",
    "Pending": "○",
    "Waiting": "⏸",
    "Sleeping": "☾",
}


def use_color(no_color: bool) -> bool:
    """Colours unless --no-color or NO_COLOR (https://no-color.org) says otherwise."""
    return not no_color and not os.environ.get("NO_COLOR")


def _duration(node: Node, now: datetime) -> str:
    if node.start is None or node.phase in ("Pending", "Skipped"):
        return ""
    seconds = ((node.end or now) - node.start).total_seconds()
    if seconds < 60:
        return f"{max(seconds, 0):.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


class _Logs:
    """Follows the output of the tree's job steps: prints what is new since the last look."""

    def __init__(self, store: Store, runners: dict[str, Any]) -> None:
        self.store, self.runners = store, runners
        self.printed: dict[str, int] = {}
        self.finished: set[str] = set()

    def jobs(self, root: Execution) -> list[tuple[str, str, str, bool]]:
        from kontinue.runtime import tree_executions

        found = []
        for ex in tree_executions(self.store, root):
            ns, name = ex.metadata.namespace, ex.metadata.name
            for entry in self.store.read_entries(ns, name):
                if not isinstance(entry, JobEntry):
                    continue
                job = entry.job
                if job.get("name") not in self.finished:
                    step = entry.display_name or entry.name
                    found.append((job["name"], job.get("runner", "local"), step, True))
            waiting = ex.status.waiting_on
            if waiting is not None and waiting.kind == "job" and waiting.names:
                found.append(
                    (waiting.names[0], waiting.runner or "local", waiting.step or "", False)
                )
        return found

    def skip_done(self, root: Execution) -> None:
        """Leave out the output of jobs that ended before now (`resume` and `retry` show what
        runs from here on; `watch` shows the whole run)."""
        for job, _runner, _step, done in self.jobs(root):
            if done:
                self.finished.add(job)

    def new_lines(self, root: Execution) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for job, runner_name, step, done in self.jobs(root):
            runner = self.runners.get(runner_name)
            if runner is None or job in self.finished:
                continue
            try:
                text = runner.logs(job, root.metadata.namespace)
            except Exception:
                continue
            start = self.printed.get(job, 0)
            upto = len(text) if done else text.rfind("\n", start) + 1
            if upto > start:
                out.extend((step, line) for line in text[start:upto].splitlines())
                self.printed[job] = upto
            if done:
                self.finished.add(job)
        if out:  # a script that echoes a secret shows ******
            from kontinue.runtime import mask, tree_secret_values

            secrets = tree_secret_values(self.store, root)
            out = [(step, mask(line, secrets)) for step, line in out]
        return out


class Display:
    """Shows the tree of one Execution while it runs; `update()` on every tick."""

    def __init__(
        self,
        store: Store,
        root: str,
        namespace: str,
        out: TextIO,
        *,
        tty: bool | None = None,
        color: bool = True,
        log_runners: dict[str, Any] | None = None,
        logs_from_now: bool = False,
    ) -> None:
        self.store, self.root, self.namespace, self.out = store, root, namespace, out
        self.tty = out.isatty() and not os.environ.get("CI") if tty is None else tty
        self.color = color
        self.logs = _Logs(store, log_runners) if log_runners is not None else None
        if self.logs is not None and logs_from_now:
            self.logs.skip_done(store.get(Execution, namespace, root))
        self.seen: dict[str, tuple[Any, ...]] = {}
        self.started: dict[str, str] = {}
        self.last = 0.0
        self.tree: Node | None = None
        self.live: Any = None
        if self.tty:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=out, no_color=not color, highlight=False, force_terminal=True)
            self.console = console
            self.live = Live(
                console=console,
                refresh_per_second=8,
                transient=False,
                get_renderable=self._renderable,
            )
            self.live.start()

    # -- ticks -----------------------------------------------------------------------------

    def update(self, force: bool = False) -> None:
        """Read the tree again (at most every 0.1 s unless `force`) and show what changed."""
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        root = self.store.get(Execution, self.namespace, self.root)
        self.tree = build(self.store, root)
        for _, node in flatten(self.tree):  # a step that started never looks Pending again
            if node.phase == "Pending" and self.started.get(node.key):
                node.phase = self.started[node.key]
            elif node.phase != "Pending":
                self.started[node.key] = "Running" if node.phase not in DONE else node.phase
        if self.logs is not None:
            for step, line in self.logs.new_lines(root):
                self._log(step, line)
        if not self.tty:
            self._lines(self.tree)
        elif self.live is not None:
            self.live.refresh()

    def close(self) -> None:
        """Stop redrawing; the last tree stays on the screen as the summary."""
        self.update(force=True)
        if self.live is not None:
            self.live.stop()
            self.live = None

    # -- off a TTY: one line per real change ------------------------------------------------

    def _lines(self, tree: Node) -> None:
        for depth, node in flatten(tree):
            state = (node.phase, node.progress)
            if self.seen.get(node.key) == state:
                continue
            first = node.key not in self.seen
            self.seen[node.key] = state
            if first and node.phase == "Pending" and depth > 0:
                continue  # a step not reached yet: no news
            parts = ["  " * depth + node.label, node.phase]
            if node.progress:
                parts.append(f"[{node.progress[0]}/{node.progress[1]}]")
            if node.phase in DONE and depth > 0:
                took = _duration(node, datetime.now(UTC))
                if took:
                    parts.append(took)
            if node.message and (node.phase != "Completed" or depth == 0):
                parts.append(node.message)
            self.out.write("  ".join(parts) + "\n")
        self.out.flush()

    def _log(self, step: str, line: str) -> None:
        if self.live is not None:
            from rich.text import Text

            text = Text(f"{step} | ", style="bold cyan" if self.color else "")
            text.append(line)
            self.live.console.print(text)
        else:
            self.out.write(f"{step} | {line}\n")
            self.out.flush()

    # -- on a TTY: the rich tree ----------------------------------------------------------

    def _renderable(self) -> Any:
        from rich.text import Text
        from rich.tree import Tree

        if self.tree is None:
            return Text("starting…")
        now = datetime.now(UTC)
        frame = _SPIN[int(time.monotonic() * 10) % len(_SPIN)]

        def label(node: Node) -> Text:
            style = _STYLE.get(node.phase, "") if self.color else ""
            icon = frame if node.phase in ("Running", "Retrying") else _ICON.get(node.phase, "•")
            text = Text()
            text.append(f"{icon} ", style=style)
            text.append(node.label, style="bold" if self.color else "")
            text.append(f"  {node.phase}", style=style)
            if node.progress and node.progress[1]:
                done, total = node.progress
                width = 12
                filled = round(width * done / total)
                text.append("  " + "█" * filled + "░" * (width - filled), style=style)
                text.append(f" {done}/{total}")
            took = _duration(node, now)
            if took:
                text.append(f"  {took}", style="dim" if self.color else "")
            if node.message and node.phase != "Completed":
                text.append(f"  {node.message}", style="dim" if self.color else "")
            if node.gate is not None and node.phase == "Waiting" and node.children == []:
                word = node.gate.spec.step
                text.append(
                    f"\n    resume: {command('resume', self.root, word)}",
                    style="magenta" if self.color else "",
                )
            return text

        def add(branch: Any, node: Node) -> None:
            for child in node.children:
                add(branch.add(label(child)), child)

        tree = Tree(label(self.tree))
        add(tree, self.tree)
        return tree
