"""The parser of `kontinue schedule …` and `kontinue resubmit` (their code: `_schedules`).

Apart from the verbs' code, so that building the parser imports neither the models nor the
engine: `kontinue list` and `--help` start fast.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["SCHEDULE_VERBS", "add_commands"]

SCHEDULE_VERBS = (
    "resubmit",
    "schedule_create",
    "schedule_delete",
    "schedule_get",
    "schedule_list",
    "schedule_suspend",
    "schedule_trigger",
)
"""The verbs whose functions live in `kontinue.cli._schedules`."""


def add_commands(
    sub: Any, add: Any, names_completer: Any, commands: Any, flags: argparse.ArgumentParser
) -> None:
    """Add `schedule` (with its verbs) and `resubmit` to the CLI's subcommands.

    `commands.NAME` is the verb's function, imported from `_schedules` when it runs; `flags`
    are the global flags, taken after a schedule verb too (`kontinue schedule list -n ns`)."""
    p = add("schedule", None, "create and manage ScheduledExecutions (cron schedules)")
    verbs = p.add_subparsers(dest="schedule_command", metavar="VERB")
    verbs.required = True

    def verb(name: str, fn: Any, help_: str) -> argparse.ArgumentParser:
        v: argparse.ArgumentParser = verbs.add_parser(
            name, help=help_, description=help_, parents=[flags]
        )
        v.set_defaults(func=fn)
        return v

    v = verb(
        "create",
        commands.schedule_create,
        "create a schedule that runs a function, or a pipeline file, on a cron schedule",
    )
    v.add_argument("name", help="the schedule's name (its runs are NAME-<minute>)")
    v.add_argument(
        "target",
        metavar="FUNCTION|PIPELINE.yaml",
        help="a registered function, or a pipeline file (validated as `submit` does; its "
        "plan is pinned now, so later edits of the file do not change the schedule)",
    )
    v.add_argument("--cron", help='5-field cron expression, e.g. "0 2 * * *" (quote it)')
    v.add_argument("--timezone", help="IANA time zone of the cron expression (default UTC)")
    v.add_argument(
        "--concurrency-policy",
        choices=["Allow", "Forbid", "Replace"],
        default=None,
        help="when a run is due while the last is still going: Allow (default) both run, "
        "Forbid skips the new one, Replace cancels the old one",
    )
    v.add_argument(
        "--starting-deadline-seconds",
        type=int,
        help="a run more than this late (e.g. after an outage) is skipped",
    )
    v.add_argument("--history-limit", type=int, help="finished runs to keep (default 5)")
    v.add_argument("--suspend", action="store_true", help="create it suspended")
    v.add_argument("--retries", type=int, help="retries of each run")
    v.add_argument("--backoff", help="wait between retries, e.g. 30s")
    v.add_argument("--archive-after", help="archive each finished run after, e.g. 1d")
    v.add_argument("--delete-after", help="delete each finished run after, e.g. 7d")
    v.add_argument("--mutex", help="runs take this mutex: one at a time with other holders")
    v.add_argument("-a", "--arg", dest="args", action="append", default=[], metavar="KEY=VALUE")
    v.add_argument("--args-file", help="YAML or JSON file with the function's arguments")
    v.add_argument("-p", "--param", dest="params", action="append", default=[], metavar="K=V")
    v.add_argument("--params-file", help="YAML or JSON file with the pipeline's parameters")
    v.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE")

    v = verb("list", commands.schedule_list, "list schedules")
    v.add_argument("-o", "--output", choices=["json", "yaml"], help="output format")
    v.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")

    v = verb("get", commands.schedule_get, "show one schedule")
    v.add_argument("name")
    v.add_argument("-o", "--output", choices=["json", "yaml"], help="output format")

    for name, value in (("suspend", True), ("resume", False)):
        what = "stop creating runs" if value else "start creating runs again"
        v = verb(name, commands.schedule_suspend, f"{what} (runs already going are not touched)")
        v.add_argument("name")
        v.set_defaults(suspend=value)

    v = verb(
        "trigger", commands.schedule_trigger, "start a run now; runs it here unless a server runs"
    )
    v.add_argument("name")
    v.add_argument("--no-wait", action="store_true", help="create the run and return")
    v.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE")

    v = verb("delete", commands.schedule_delete, "delete a schedule (its past runs are kept)")
    v.add_argument("name")

    p = add(
        "resubmit",
        commands.resubmit,
        "start a new Execution with the spec of an old one (live or archived)",
    )
    p.add_argument("name").completer = names_completer
    p.add_argument("--name", dest="new_name", help="name of the new Execution")
    p.add_argument("--no-wait", action="store_true", help="create it and return")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE")
