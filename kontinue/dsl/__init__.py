"""YAML pipelines: load, validate, compile to a plan, and render templates at run time.

Typical use::

    from kontinue import dsl

    problems = dsl.validate_file("release.yaml")          # [] when valid
    plan = dsl.compile_pipeline("release.yaml")           # raises dsl.PipelineError
    args = dsl.validate_arguments(plan, dsl.parse_param_assignments(["service=api"]))
    command = dsl.render(node["script"]["command"], {"params": args, "steps": {...},
                                                     "execution": {...}})

The plan format, the list of fields that hold templates and the default step names are
described in `kontinue.dsl.Plan` and `compile_pipeline`; the pipeline format itself in
``schemas/pipeline.schema.json`` (`pipeline_schema`).
"""

from kontinue.dsl._arguments import parse_param_assignments, validate_arguments
from kontinue.dsl._compiler import compile_pipeline, validate_file
from kontinue.dsl._errors import ArgumentsError, Diagnostic, PipelineError, TemplateError
from kontinue.dsl._plan import Plan, PlanNode
from kontinue.dsl._schema import pipeline_schema
from kontinue.dsl._template import condition, references, render, render_text

__all__ = [
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
]
