"""The `kontinue` command line."""

from kontinue.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
