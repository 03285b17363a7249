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

A constructor that takes ``headers`` (by name, or through ``**kwargs``) also gets the
run-id tag of synthetic traffic, to send with the calls it makes itself.

The plan's test SKUs (``target_skus``) come from here too: ``target.skus`` (a list, or a
file next to the plan) or, for a url target that names none, ``adapter.list_skus()``.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from collectors.adapter import UNANSWERED, OmsAdapter
from slo.conventions import RUN_ID_HEADER
from slo.errors import InfraError, PlanError, PlanIssue, UsageError
from slo.loader import line_of_field
from slo.plan import Plan
from slo.target import DEFAULT_ADAPTER, MAX_TEST_SKUS, SkuFile, resolve_adapter_options

__all__ = [
    "DEFAULT_ADAPTER",
    "REQUIRED_METHODS",
    "AdapterError",
    "adapter_problems",
    "build_adapter",
    "check_plan_adapter",
    "constructor_problem",
    "load_adapter_class",
    "parse_sku_lines",
    "plan_adapter",
    "read_sku_file",
    "run_headers",
    "target_skus",
]

REQUIRED_METHODS: Mapping[str, int] = {
    # method -> positional arguments peakops passes (besides self)
    "place_call": 6,
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
    "cancel_order": 2,
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


def _takes_keyword(cls: type[Any], name: str) -> bool:
    """Whether ``cls(...)`` accepts the keyword ``name`` (by name or ``**kwargs``)."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # no signature to read: do not pass extras
        return False
    return any(
        p.kind is p.VAR_KEYWORD or (p.name == name and p.kind is not p.POSITIONAL_ONLY)
        for p in parameters
    )


def constructor_problem(cls: type[Any], option_names: Sequence[str]) -> str | None:
    """Why ``cls(base_url, truth_url, store_urls=..., **options)`` cannot be called, or None."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # a builtin without a signature: trust it
        return None
    try:
        signature.bind("", None, store_urls={}, **dict.fromkeys(option_names))
    except TypeError as err:
        return f"its constructor cannot take (base_url, truth_url, *, store_urls, ...): {err}"
    return None


def build_adapter(
    spec: str,
    base_url: str,
    truth_url: str | None,
    *,
    options: Mapping[str, Any] | None = None,
    store_urls: Mapping[str, str] | None = None,
    search_path: Sequence[Path] = (),
    headers: Mapping[str, str] | None = None,
) -> OmsAdapter:
    """The adapter ``spec`` names, built for this target (raises ``AdapterError``).

    ``headers`` (the run-id tag) are passed only to a constructor that takes them.
    """
    cls = load_adapter_class(spec, search_path)
    kwargs: dict[str, Any] = {"store_urls": dict(store_urls or {}), **dict(options or {})}
    if headers is not None and _takes_keyword(cls, "headers"):
        kwargs["headers"] = dict(headers)
    try:
        adapter: OmsAdapter = cls(base_url, truth_url, **kwargs)
    except TypeError as err:
        if "headers" in kwargs and "headers" in str(err):  # **kwargs that do not take them
            return build_adapter(spec, base_url, truth_url, options=options,
                                 store_urls=store_urls, search_path=search_path)  # fmt: skip
        raise AdapterError(f"{spec}: cannot be built with these options: {err}") from err
    return adapter


def run_headers(run_id: str) -> dict[str, str]:
    """What tags every request of a run as synthetic: the run-id header and baggage."""
    return {RUN_ID_HEADER: run_id, "baggage": f"peakops.run_id={run_id},peakops.synthetic=true"}


def check_plan_adapter(plan: Plan, plan_dir: Path | None, plan_file: Path | None = None) -> None:
    """Import and check the plan's adapter, its options and its SKU file before anything runs.

    Raises ``PlanError`` naming ``plan_file``'s line of the field (``target.adapter``,
    ``target.adapterOptions``, ``target.skus``); without a file, the field alone.
    Environment variables are not required here (a CI job may validate without them).
    """
    target = plan.target
    source = str(plan_file) if plan_file is not None else "plan"
    search = [plan_dir] if plan_dir is not None else []
    issues: list[PlanIssue] = []

    def issue(field: str, value: str | None, message: str) -> None:
        loc = tuple(field.split("."))
        line = line_of_field(plan_file, loc) if plan_file is not None else None
        issues.append(PlanIssue(source, line, field, value, message))

    try:
        cls = load_adapter_class(target.adapter, search)
    except AdapterError as err:
        issue("target.adapter", repr(target.adapter), str(err))
    else:
        problem = constructor_problem(cls, list(target.adapter_options))
        if problem:
            issue("target.adapterOptions", None, f"{target.adapter}: {problem}")
    if isinstance(target.skus, SkuFile):
        try:
            read_sku_file(target.skus, plan_dir)
        except PlanError as err:
            issues += err.issues
        except UsageError as err:
            issue("target.skus.file", repr(target.skus.file), str(err))
    if issues:
        raise PlanError(issues)


def plan_adapter(
    plan: Plan,
    *,
    base_url: str,
    truth_url: str | None,
    store_urls: Mapping[str, str] | None = None,
    plan_dir: Path | None = None,
    env: Mapping[str, str],
    run_id: str | None = None,
) -> OmsAdapter:
    """The plan's adapter for this target, its ``{env: NAME}`` options read from ``env``.

    Raises ``UsageError`` for a variable that is not set or an adapter that cannot be
    built; every request it makes itself carries ``run_id``'s tag.
    """
    target = plan.target
    options = resolve_adapter_options(target.adapter_options, env)
    try:
        return build_adapter(
            target.adapter, base_url, truth_url, options=options, store_urls=store_urls,
            search_path=[plan_dir] if plan_dir is not None else [],
            headers=run_headers(run_id) if run_id else None,
        )  # fmt: skip
    except AdapterError as err:
        raise UsageError(f"target.adapter: {err}") from err


def parse_sku_lines(text: str) -> tuple[list[str], list[tuple[int, str]]]:
    """The SKUs of a SKU file's ``text`` and its problems as ``(line, message)``.

    One SKU per line; blank lines and comments (``#`` at the start of a line or after a
    space) are skipped; a repeated SKU is a problem, as is a file with none.
    """
    skus: list[str] = []
    first: dict[str, int] = {}
    problems: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        if line in first:
            problems.append((number, f"duplicate SKU {line!r} (first on line {first[line]})"))
            continue
        first[line] = number
        skus.append(line)
    if not skus and not problems:
        problems.append((1, "no SKUs in the file (one SKU per line, '#' starts a comment)"))
    if len(skus) > MAX_TEST_SKUS:
        problems.append((1, f"{len(skus)} SKUs, expected at most {MAX_TEST_SKUS}"))
    return skus, problems


def read_sku_file(skus: SkuFile, plan_dir: Path | None) -> list[str]:
    """The SKUs of ``target.skus: {file: ...}`` (relative to ``plan_dir``).

    Raises ``UsageError`` when the file cannot be read, ``PlanError`` (file and line)
    for what is wrong in it.
    """
    path = Path(skus.file)
    if not path.is_absolute() and plan_dir is not None:
        path = plan_dir / path
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as err:
        raise UsageError(f"{path}: no such file (target.skus.file)") from err
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: cannot read the SKU file: {err}") from err
    found, problems = parse_sku_lines(text)
    if problems:
        raise PlanError(PlanIssue(str(path), line, "", None, message) for line, message in problems)
    return found


def target_skus(
    plan: Plan, plan_dir: Path | None, adapter: OmsAdapter
) -> tuple[list[str], str] | None:
    """The SKUs a url target is tested with (most popular first) and where they came
    from; None for embedded targets (their seeded catalog, ``SKU-00001``...).

    ``target.skus`` when the plan lists them (or names a file), else what the OMS lists
    (its first ``MAX_TEST_SKUS``). Raises ``InfraError`` naming ``adapter.list_skus()``
    when it fails or lists none, ``UsageError`` / ``PlanError`` for a bad SKU file.
    """
    target = plan.target
    if target.kind != "url":
        return None
    if isinstance(target.skus, tuple):
        return list(target.skus), "target.skus"
    if isinstance(target.skus, SkuFile):
        return read_sku_file(target.skus, plan_dir), f"target.skus.file {target.skus.file}"
    call = f"{target.adapter}.list_skus()"
    try:
        listed = adapter.list_skus()
    except UNANSWERED as err:
        raise InfraError(f"target skus: {call}: the oms did not answer: {err}") from err
    except Exception as err:  # a bug of the adapter, or an api it does not match
        raise InfraError(f"target skus: {call} raised {type(err).__name__}: {err}") from err
    skus = list(dict.fromkeys(str(sku) for sku in listed))  # once each, in the oms's order
    if not skus:
        raise InfraError(f"target skus: {call} returned no SKUs: list the test SKUs in target.skus")
    source = "adapter.list_skus()"
    if len(skus) > MAX_TEST_SKUS:
        source += f" (its first {MAX_TEST_SKUS} of {len(skus)})"
    return skus[:MAX_TEST_SKUS], source
