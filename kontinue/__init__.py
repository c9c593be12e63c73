"""kontinue: durable execution and pipelines for Kubernetes, in Python.

Write a durable function::

    import kontinue

    @kontinue.function("hello")
    def hello(ktx: kontinue.ExecutionContext, args: dict) -> dict:
        greeting = kontinue.store(ktx, lambda: f"hello {args['name']}")
        kontinue.sleep(ktx, timedelta(seconds=1))
        return {"greeting": greeting}

The SDK's names are loaded on first use, so that `kontinue list` and `kontinue --help` do
not pay for the engine, the pipeline language and the runners.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from kontinue.sdk import *  # noqa: F403
    from kontinue.sdk import __all__ as _sdk_all

    __all__ = [*_sdk_all, "__version__"]
else:
    # the subpackage `kontinue.store` is loaded now, so that the attribute `kontinue.store`
    # stays the SDK's `store()` step (loading the subpackage later would replace it)
    import kontinue.store  # noqa: F401

    def store(*args: Any, **kwargs: Any) -> Any:
        """`kontinue.store(ktx, fn)`: see `kontinue.sdk.store`."""
        return _sdk().store(*args, **kwargs)


def _sdk() -> Any:
    sdk = importlib.import_module("kontinue.sdk")
    globals()["store"] = sdk.store
    return sdk


def __getattr__(name: str) -> Any:
    sdk = _sdk()
    if name == "__all__":
        return [*sdk.__all__, "__version__"]
    if name in sdk.__all__:
        value = getattr(sdk, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kontinue' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_sdk().__all__})
