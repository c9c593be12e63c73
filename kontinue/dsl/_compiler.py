"""Compile a pipeline file, and the pipeline files it calls, into a Plan or report every problem."""

from __future__ import annotations

import copy
import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kontinue.api._duration import format_duration, parse_duration
from kontinue.api._meta import API_VERSION
from kontinue.dsl._errors import Diagnostic, PipelineError
from kontinue.dsl._flow import loop_name
from kontinue.dsl._loader import Document, load_document, pointer
from kontinue.dsl._plan import PLAN_KIND, Plan
from kontinue.dsl._steps import GROUPS, StepInfo, did_you_mean, is_valid_name, kind_of, walk_steps
from kontinue.dsl._template import condition_template
from kontinue.dsl._validate import declared_params, validate_document

__all__ = ["compile_pipeline", "validate_file"]

_DEFAULT_SHELL = ["/bin/sh", "-c"]
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def compile_pipeline(path: str | os.PathLike[str], *, text: str | None = None) -> Plan:
    """Compile a pipeline file into a plan, embedding the pipelines it calls.

    Args:
        path: The pipeline file. Diagnostics name it as given; the plan never holds it
            absolutely (``source`` is its file name).
        text: The file's content, when it comes from elsewhere than the disk (an upload to
            the server); files it calls and imports are still found beside `path`.

    Returns:
        The plan (see `kontinue.dsl.Plan` for its shape).

    Raises:
        PipelineError: the file, or a file it calls, has problems; all are listed.
    """
    compiler = _Compiler(Path(os.path.abspath(path)).parent)
    if text is not None:
        compiler.texts[Path(os.path.abspath(path))] = text
    plan = compiler.compile(os.fspath(path), Path(os.path.abspath(path)), ())
    if compiler.diagnostics or plan is None:
        raise PipelineError(compiler.diagnostics)
    return Plan(plan)


def validate_file(path: str | os.PathLike[str]) -> list[Diagnostic]:
    """Return every problem of a pipeline file and the files it calls (empty when valid)."""
    try:
        compile_pipeline(path)
    except PipelineError as error:
        return error.diagnostics
    return []


@dataclass(frozen=True)
class _Call:
    """One link of a chain of pipeline calls, for cycle messages."""

    path: Path
    display: str
    site: Diagnostic | None


class _Compiler:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.diagnostics: list[Diagnostic] = []
        self.done: dict[Path, dict[str, Any] | None] = {}
        self.cycle_sites: set[tuple[str, int, int]] = set()
        self.texts: dict[Path, str] = {}

    def compile(self, display: str, path: Path, chain: tuple[_Call, ...]) -> dict[str, Any] | None:
        if path in self.done:
            return self.done[path]
        try:
            text = self.texts[path] if path in self.texts else path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "it is not UTF-8 text"
            self.diagnostics.append(Diagnostic(display, 1, 1, f"cannot read {display}: {reason}"))
            self.done[path] = None
            return None
        try:
            doc = load_document(text, display)
        except PipelineError as error:
            self.diagnostics.extend(error.diagnostics)
            self.done[path] = None
            return None
        before = len(self.diagnostics)
        found = validate_document(doc)
        steps = walk_steps(doc.data)
        if isinstance(doc.data, Mapping):
            found += self._imports(doc, path)
            found += self._calls(doc, path, steps, (*chain, _Call(path, display, None)))
        self.diagnostics.extend(found)
        failed = found or len(self.diagnostics) > before  # counts files it calls, and cycles
        plan = None if failed else self._plan(doc, path, steps)
        self.done[path] = plan
        return plan

    def _imports(self, doc: Document, path: Path) -> list[Diagnostic]:
        found = []
        imports = doc.data.get("imports")
        for index, entry in enumerate(imports if isinstance(imports, list) else []):
            ptr = pointer("imports", index)
            if not isinstance(entry, str) or not entry:
                continue  # reported by the schema
            if entry.endswith(".py") or "/" in entry:
                if not (path.parent / entry).is_file():
                    shown = posixpath.join(posixpath.dirname(doc.file), entry)
                    message = f"import '{entry}' does not exist (looked for {shown})"
                    hint = "paths in imports are relative to the pipeline file"
                    found.append(doc.diagnostic(ptr, message, hint, value=True))
            elif not _MODULE.fullmatch(entry):
                message = f"import '{entry}' is neither a .py file nor a Python module name"
                found.append(doc.diagnostic(ptr, message, "write e.g. steps.py or mypkg.steps"))
        return found

    def _calls(
        self, doc: Document, path: Path, steps: list[StepInfo], chain: tuple[_Call, ...]
    ) -> list[Diagnostic]:
        found: list[Diagnostic] = []
        for step in steps:
            target = step.data.get("call")
            if kind_of(step.data) != "call" or not isinstance(target, str):
                continue
            ptr = step.ptr + pointer("call")
            if not target.endswith((".yaml", ".yml")):
                if not _is_function_name(target):
                    message = f"step '{step.name}' calls '{target}', which is not a valid "
                    message += "function name"
                    hint = (
                        "function names use lowercase letters, digits, '-' and '.', e.g. "
                        "'deploy-service'; pipeline files end in .yaml or .yml"
                    )
                    found.append(doc.diagnostic(ptr, message, hint, value=True))
                continue
            site = doc.diagnostic(ptr, "", value=True)
            called = Path(os.path.normpath(path.parent / target))
            shown = posixpath.normpath(posixpath.join(posixpath.dirname(doc.file), target))
            links = [link.path for link in chain]
            if called in links:
                self._cycle(chain[links.index(called) :], site)
                continue
            if not called.is_file():
                message = f"step '{step.name}' calls pipeline '{target}', which does not exist"
                hint = f"looked for {shown}; the path is relative to this file"
                found.append(doc.diagnostic(ptr, message, hint, value=True))
                continue
            sub = self.compile(shown, called, (*chain[:-1], _Call(path, doc.file, site)))
            if sub is None:
                if (site.file, site.line, site.col) not in self.cycle_sites:
                    message = f"step '{step.name}' calls pipeline '{target}', which has problems"
                    found.append(doc.diagnostic(ptr, message, f"see {shown}", value=True))
                continue
            found += _check_with(doc, step, target, sub["params"])
        return found

    def _cycle(self, loop: tuple[_Call, ...], site: Diagnostic) -> None:
        """Report a cycle at every call in it, so each file involved names the whole chain."""
        names = " → ".join([link.display for link in loop] + [loop[0].display])
        hint = "a pipeline cannot call itself, directly or through other pipelines"
        sites = [link.site for link in loop if link.site is not None] + [site]
        for where in sites:
            self.cycle_sites.add((where.file, where.line, where.col))
            message = f"pipeline calls form a cycle: {names}"
            self.diagnostics.append(Diagnostic(where.file, where.line, where.col, message, hint))

    def _plan(self, doc: Document, path: Path, steps: list[StepInfo]) -> dict[str, Any]:
        data = doc.data
        metadata = data["metadata"]
        names = {step.ptr: step.name for step in steps}
        params = data.get("params")
        source = Path(os.path.relpath(path, self.root)).as_posix()
        defaults = data.get("defaults") or {}
        build = _Builder(names, self, path, defaults)
        return {
            "apiVersion": API_VERSION,
            "kind": PLAN_KIND,
            "name": metadata["name"],
            "description": metadata.get("description"),
            "labels": dict(metadata.get("labels") or {}),
            "source": source,
            "params": params if params is not None else {"type": "object", "properties": {}},
            "imports": list(data.get("imports") or []),
            "mutex": data.get("mutex"),
            **({"schedule": dict(data["schedule"])} if data.get("schedule") else {}),
            "steps": [
                build.node(item, pointer("steps", i)) for i, item in enumerate(data["steps"])
            ],
            "finally": [
                build.node(item, pointer("finally", i))
                for i, item in enumerate(data.get("finally") or [])
            ],
            "result": data.get("result"),
        }


def _is_function_name(name: str) -> bool:
    """The SDK's rule: dot-separated lowercase RFC 1123 labels, at most 253 characters."""
    return len(name) <= 253 and all(is_valid_name(part) for part in name.split("."))


def _check_with(doc: Document, step: StepInfo, target: str, params: Any) -> list[Diagnostic]:
    given = step.data.get("with")
    ptr = step.ptr + pointer("with")
    if isinstance(given, str):
        return []  # a template that will give the whole mapping at run time
    if given is not None and not isinstance(given, Mapping):
        message = f"with of step '{step.name}' must be a mapping of the params of '{target}'"
        return [doc.diagnostic(ptr, message, None, value=True)]
    given = given or {}
    found = []
    declared = declared_params(params)
    properties = (params.get("properties") or {}) if isinstance(params, Mapping) else {}
    for name in params.get("required", []) if isinstance(params, Mapping) else []:
        has_default = isinstance(properties.get(name), Mapping) and "default" in properties[name]
        if name not in given and not has_default:
            message = f"step '{step.name}' calls pipeline '{target}' without its required "
            message += f"param '{name}'"
            at = ptr if "with" in step.data else step.ptr + pointer("call")
            found.append(doc.diagnostic(at, message, f"add {name}: under with:"))
    if declared is not None and params.get("additionalProperties", False) is False:
        for name in given:
            if name not in declared:
                message = f"step '{step.name}' passes '{name}' to pipeline '{target}', "
                message += "which has no such param"
                listing = f"its params are {', '.join(sorted(declared)) or 'none'}"
                hint = f"{did_you_mean(name, declared) or ''} {listing}".strip()
                found.append(doc.diagnostic(ptr + pointer(name), message, hint))
    return found


def _duration(value: Any) -> str | None:
    return None if value is None else format_duration(parse_duration(value))


def _retry(retry: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if retry is None:
        return None
    return {
        "retries": retry.get("retries", 0),
        "backoff": _duration(retry.get("backoff", "5s")),
        "childPolicy": retry.get("childPolicy", "None"),
    }


def _timeout(timeout: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if timeout is None:
        return None
    return {
        "attempt": _duration(timeout.get("attempt")),
        "overall": _duration(timeout.get("overall")),
    }


_LEAVES = ("script", "job", "pod", "poll", "call")
"""The kinds that take defaults.retry and defaults.timeout (groups would multiply them)."""


@dataclass
class _Builder:
    names: Mapping[str, str]
    compiler: _Compiler
    path: Path
    defaults: Mapping[str, Any]

    def node(self, step: Mapping[str, Any], ptr: str) -> dict[str, Any]:
        kind = kind_of(step)
        assert kind is not None  # validated before compiling
        when = step.get("when")
        leaf = kind in _LEAVES
        retry = step.get("retry", self.defaults.get("retry") if leaf else None)
        timeout = step.get("timeout", self.defaults.get("timeout") if leaf else None)
        ttl = step.get("ttl", self.defaults.get("ttl"))
        node: dict[str, Any] = {
            "name": self.names[ptr],
            "type": kind,
            "displayName": step.get("displayName"),
            "description": step.get("description"),
            "when": None if when is None else condition_template(when),
            "retry": _retry(retry),
            "timeout": _timeout(timeout),
        }
        if ttl is not None:  # how long what the step leaves (job, child Execution) is kept
            node["ttl"] = _duration(ttl)
        if "forEach" in step:
            node["forEach"] = {
                "items": step["forEach"],
                "as": loop_name(step),
                "maxParallel": step.get("maxParallel"),
            }
        if "needs" in step:
            node["needs"] = list(step["needs"])
        if "mutex" in step:
            node["mutex"] = step["mutex"]
        node[kind] = self.spec(kind, step, ptr)
        return node

    def children(self, items: list[Any], ptr: str) -> list[dict[str, Any]]:
        return [self.node(child, ptr + pointer(i)) for i, child in enumerate(items)]

    def spec(self, kind: str, step: Mapping[str, Any], ptr: str) -> Any:
        spec = step[kind]
        if kind == "script":
            return {
                "image": spec["image"],
                "command": spec["command"],
                "shell": list(spec.get("shell") or _DEFAULT_SHELL),
                "env": dict(spec.get("env") or {}),
                "workingDir": spec.get("workingDir"),
                "outputs": spec.get("outputs"),
            }
        if kind == "job":
            job = copy.deepcopy(dict(spec))
            pod = job.setdefault("template", {}).setdefault("spec", {})
            pod.setdefault("restartPolicy", "Never")
            return {"spec": job}
        if kind == "pod":
            return {"spec": copy.deepcopy(dict(spec))}
        if kind == "poll":
            script = spec.get("script")
            http = spec.get("http")
            return {
                "script": None
                if script is None
                else {
                    "image": script.get("image", "alpine:3.20"),
                    "command": script["command"],
                    "env": dict(script.get("env") or {}),
                },
                "http": None
                if http is None
                else {"url": http["url"], "status": http.get("status", 200)},
                "interval": _duration(spec["interval"]),
                "timeout": _duration(spec.get("timeout")),
            }
        if kind == "sleep":
            return {"duration": _duration(spec)}
        if kind == "suspend":
            spec = spec or {}
            out = {key: spec.get(key) for key in ("displayName", "description")}
            out["inputs"] = spec.get("inputs")
            return out
        if kind in GROUPS:
            key = {"parallel": "branches", "dag": "tasks", "sequence": "steps"}[kind]
            return {key: self.children(spec, ptr + pointer(kind))}
        if spec.endswith((".yaml", ".yml")):
            called = self.compiler.done[Path(os.path.normpath(self.path.parent / spec))]
            return {"pipeline": copy.deepcopy(called), "with": step.get("with")}
        return {"function": spec, "with": step.get("with")}
