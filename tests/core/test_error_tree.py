"""One error tree: every error kontinue raises is a `kontinue.Error` with a kind."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import kontinue
import kontinue.api
from kontinue.api import ErrorKind
from tests.conftest import CLI


def _public_error_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(kontinue.__path__, "kontinue."):
        if info.name.startswith("kontinue.__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, Exception)
                and obj.__module__.startswith("kontinue.")
                and not name.startswith("_")
            ):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


def test_every_public_exception_of_the_package_derives_from_the_root() -> None:
    classes = _public_error_classes()
    assert len(classes) >= 20  # the store's, runners', DSL's, runtime's, CLI's and the sentinels
    strays = [c.__qualname__ for c in classes if not issubclass(c, kontinue.Error)]
    assert strays == []


def test_the_root_and_kinds_live_in_the_bottom_layer_and_stay_importable_where_they_were() -> None:
    import kontinue.runtime
    import kontinue.sdk

    assert kontinue.Error is kontinue.api.Error is kontinue.runtime.Error is kontinue.sdk.Error
    assert kontinue.ErrorKind is kontinue.api.ErrorKind
    assert kontinue.Error.__module__ == "kontinue.api._errors"


def test_store_and_dsl_errors_are_kontinue_errors_with_a_kind(tmp_path: object) -> None:
    from kontinue.api import DurationError, parse_duration
    from kontinue.store import NotFoundError, open_store

    store = open_store(tmp_path, create=True)  # type: ignore[arg-type]
    with pytest.raises(kontinue.Error) as caught:
        store.get(kontinue.api.Execution, "default", "nope")
    assert isinstance(caught.value, NotFoundError)
    assert caught.value.kind is ErrorKind.INFRASTRUCTURE and caught.value.retryable
    assert caught.value.resource_kind == "Execution"

    with pytest.raises(kontinue.Error) as bad:
        parse_duration("soon")
    assert isinstance(bad.value, DurationError) and isinstance(bad.value, ValueError)
    assert (bad.value.kind, bad.value.retryable) == (ErrorKind.VALIDATION, False)


def test_cli_user_mistakes_are_one_line_and_exit_2(cli: CLI) -> None:
    for args in (("get", "no-such"), ("cancel", "no-such"), ("execute", "no-such-fn")):
        result = cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("kontinue: error: "), result.stderr
        assert "no-such" in lines[0]
