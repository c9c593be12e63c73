"""kontinue: durable execution and pipelines for Kubernetes, in Python.

Write a durable function::

    import kontinue

    @kontinue.function("hello")
    def hello(ktx: kontinue.ExecutionContext, args: dict) -> dict:
        greeting = kontinue.store(ktx, lambda: f"hello {args['name']}")
        kontinue.sleep(ktx, timedelta(seconds=1))
        return {"greeting": greeting}
"""

from kontinue.sdk import *  # noqa: F403
from kontinue.sdk import __all__ as _sdk_all

__version__ = "0.1.0"

__all__ = [*_sdk_all, "__version__"]
