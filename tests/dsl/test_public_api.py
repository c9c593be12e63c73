"""kontinue.dsl exports exactly what it promises (a change here is an API change)."""

from __future__ import annotations

import ast
from pathlib import Path

import kontinue.dsl

PUBLIC = {
    "ArgumentsError",
    "Diagnostic",
    "PipelineError",
    "Plan",
    "PlanNode",
    "TemplateError",
    "compile_pipeline",
    "condition",
    "parse_param_assignments",
    "pipeline_schema",
    "references",
    "render",
    "render_text",
    "validate_arguments",
    "validate_file",
}
PACKAGE = Path(kontinue.dsl.__file__).parent
RUN_TIME = {"_interpreter.py", "_fanout.py", "_outcomes.py", "_poll.py", "submit.py"}
"""The plan interpreter and its helpers run plans on the SDK, and `submit` stores them
through the engine, by design."""


def test_dsl_exports() -> None:
    assert set(kontinue.dsl.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(kontinue.dsl, name), name


def test_errors_are_exceptions() -> None:
    for name in ("ArgumentsError", "PipelineError", "TemplateError"):
        assert issubclass(getattr(kontinue.dsl, name), Exception)


def test_the_front_end_never_imports_the_engine() -> None:
    for module in PACKAGE.glob("*.py"):
        if module.name in RUN_TIME:
            continue
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(
                    ("kontinue.sdk", "kontinue.runtime", "kontinue.cli", "kontinue.store")
                ), f"{module.name} imports {name}"


def test_every_module_says_what_it_does() -> None:
    for module in PACKAGE.glob("_*.py"):
        if module.name == "_interpreter.py":
            continue
        docstring = ast.get_docstring(ast.parse(module.read_text(encoding="utf-8")))
        assert docstring, f"{module.name} has no module docstring"
