"""Flags several verbs share, declared without importing what the verbs need to run.

Building the parser must stay cheap: `kontinue --help` and `kontinue list` start fast.
"""

from __future__ import annotations

import argparse

__all__ = ["PHASES", "add_filters", "add_log", "add_output", "add_resume", "selector"]

PHASES = ("Pending", "Executing", "Suspended", "Backoff", "Completed", "Failed", "Canceled")


def add_output(p: argparse.ArgumentParser) -> None:
    """`-o json|yaml|wide|name` and `-w`."""
    p.add_argument("-o", "--output", choices=["json", "yaml", "wide", "name"], help="output format")
    p.add_argument(
        "-w", "--watch", action="store_true", help="after the list, print each change (Ctrl-C ends)"
    )


def selector(text: str) -> str:
    """`-l SELECTOR`, checked while parsing the line: a malformed one is a usage error (2)."""
    from kontinue.store._selectors import parse_selector

    try:
        parse_selector(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (write e.g. team=platform,tier!=web)") from None
    return text


def add_filters(p: argparse.ArgumentParser) -> None:
    """`-l`, `--phase`, `-A`, `--sort-by`."""
    p.add_argument(
        "-l", "--selector", type=selector, help="label selector, e.g. team=platform,tier!=web"
    )
    p.add_argument("--phase", help=f"only these phases, comma-separated ({', '.join(PHASES)})")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    p.add_argument(
        "--sort-by",
        help="name, age, phase, function, or a field path such as .metadata.creationTimestamp",
    )


def add_log(p: argparse.ArgumentParser) -> None:
    """`--log`: stream step output while the command runs or follows the Execution."""
    p.add_argument(
        "--log",
        action="store_true",
        help="print the output of script, job and pod steps as it comes, prefixed by step",
    )


def add_resume(p: argparse.ArgumentParser) -> None:
    """The arguments of `resume`: which Execution, which gate or sleep, the gate's inputs."""
    p.add_argument("name", help="the Execution (its root, or the child that waits)")
    p.add_argument(
        "step",
        nargs="?",
        help="the gate or sleep: its step name (approve-production), or its Suspension's "
        "name; default: the only one that is open",
    )
    p.add_argument("--all", dest="all_open", action="store_true", help="resolve every open one")
    p.add_argument("--no-wait", action="store_true", help="only resolve; do not run on here")
    p.add_argument(
        "--input",
        dest="inputs",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an input the gate asks for (value read as YAML: true, [eu, us]); repeatable",
    )
    p.add_argument("--inputs-file", help="YAML or JSON file with the gate's inputs")
