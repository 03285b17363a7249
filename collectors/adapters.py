"""Choosing the target adapter: ``target.adapter: "package.module:ClassName"`` in the plan.

An adapter class is imported by its spec (a module next to the plan file is found:
the plan's directory is searched first), checked against ``OmsAdapter`` (every method
present, callable with the arguments peakops passes), and built with the target's URLs
and ``target.adapterOptions``. Every process that talks to the OMS (load workers,
probes, resolution, cleanup, the peak-day collector) builds its own the same way.

The contract for an adapter class (docs/adapters.md)::

    class MyOmsAdapter:
        def __init__(self, base_url: str, truth_url: str | None, *,
                     store_urls: Mapping[str, str] = {}, **options: Any) -> None: ...
        # ... every method of collectors.adapter.OmsAdapter
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from collectors.adapter import OmsAdapter

__all__ = [
    "DEFAULT_ADAPTER",
    "REQUIRED_METHODS",
    "AdapterError",
    "adapter_problems",
    "build_adapter",
    "load_adapter_class",
]

DEFAULT_ADAPTER = "collectors.adapter:ReferenceOmsAdapter"

REQUIRED_METHODS: Mapping[str, int] = {
    # method -> positional arguments peakops passes (besides self)
    "place_call": 5,
    "place_outcome": 2,
    "cancel_call": 3,
    "cancel_outcome": 2,
    "stock_check_call": 2,
    "order_by_key": 1,
    "order_cancelled": 1,
    "read_truth": 1,
    "read_all_truth": 0,
    "read_view": 2,
    "list_skus": 0,
}
"""What ``OmsAdapter`` requires of every adapter, and how many arguments each takes."""


class AdapterError(ValueError):
    """The adapter spec cannot be imported or the class does not fit ``OmsAdapter``."""


@contextmanager
def _search(path: Sequence[Path]) -> Iterator[None]:
    added = [str(p) for p in path if str(p) not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for entry in added:
            if entry in sys.path:
                sys.path.remove(entry)


def load_adapter_class(spec: str, search_path: Sequence[Path] = ()) -> type[Any]:
    """Import ``package.module:ClassName`` (``search_path`` first: the plan's directory)."""
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name:
        raise AdapterError(f"expected 'package.module:ClassName', got {spec!r}")
    with _search(search_path):
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise AdapterError(f"cannot import {module_name!r}: {err}") from err
        except Exception as err:  # the user's module raised while importing: say what
            raise AdapterError(
                f"importing {module_name!r} raised {type(err).__name__}: {err}"
            ) from err
    cls = getattr(module, class_name, None)
    if not inspect.isclass(cls):
        raise AdapterError(f"{module_name!r} has no class {class_name!r}")
    problems = adapter_problems(cls)
    if problems:
        raise AdapterError(f"{spec}: " + "; ".join(problems))
    return cls


def adapter_problems(cls: type[Any]) -> list[str]:
    """What keeps ``cls`` from being an ``OmsAdapter``: missing methods, wrong signatures."""
    problems = []
    for name, arity in REQUIRED_METHODS.items():
        method = getattr(cls, name, None)
        if not callable(method):
            problems.append(f"missing method {name}()")
            continue
        try:
            inspect.signature(method).bind(None, *([None] * arity))
        except TypeError:
            problems.append(f"{name}() must take {arity} argument(s) besides self")
        except ValueError:  # a builtin without a signature: trust it
            continue
    return problems


def build_adapter(
    spec: str,
    base_url: str,
    truth_url: str | None,
    *,
    options: Mapping[str, Any] | None = None,
    store_urls: Mapping[str, str] | None = None,
    search_path: Sequence[Path] = (),
) -> OmsAdapter:
    """The adapter ``spec`` names, built for this target (raises ``AdapterError``)."""
    cls = load_adapter_class(spec, search_path)
    try:
        adapter: OmsAdapter = cls(
            base_url, truth_url, store_urls=dict(store_urls or {}), **dict(options or {})
        )
    except TypeError as err:
        raise AdapterError(f"{spec}: cannot be built with these options: {err}") from err
    return adapter
