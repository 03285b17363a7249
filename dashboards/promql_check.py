"""PromQL in dashboards: template variables resolved, parsed, metric names found.

Parsed with ``promql-parser`` (Python bindings of GreptimeDB's Rust port of the
Prometheus parser): in process, and it returns the syntax tree, so the metric names
come from the selectors themselves, not from a regular expression. ``promtool`` can
only check whole rule files and says nothing of the names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import promql_parser

__all__ = ["INTERVALS", "Parsed", "parse_query", "resolve_variables", "variables_in"]

INTERVALS: Final = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
    "__interval_ms": "15000",
}
"""Grafana's built-in variables, as a plausible value each."""

_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<query>.+),\s*)?(?P<label>\w+)\s*\)\s*$")


def variables_in(expr: str) -> set[str]:
    """The template variables ``expr`` uses (``$x``, ``${x}``, ``${x:fmt}``, ``[[x]]``)."""
    return {next(filter(None, m.groups())) for m in _VARIABLE.finditer(expr)}


def resolve_variables(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with each variable replaced: built-ins by ``INTERVALS``, the others by
    ``values`` (a dashboard variable's All value), else ``.*``; ``values`` may also
    override the built-ins."""

    def value(match: re.Match[str]) -> str:
        name = next(filter(None, match.groups()))
        return values.get(name, INTERVALS.get(name, ".*"))

    return _VARIABLE.sub(value, expr)


@dataclass(frozen=True)
class Parsed:
    """A parsed expression: the series names it selects (``None`` for a selector by
    labels alone), or why it does not parse."""

    metrics: tuple[str | None, ...] = ()
    error: str | None = None


def parse_query(expr: str) -> Parsed:
    """Parse a resolved expression; ``label_values(query, label)`` (a variable's query)
    is checked through its inner query."""
    match = _LABEL_VALUES.match(expr)
    if match:
        inner = match["query"]
        return parse_query(inner) if inner else Parsed()
    try:
        tree = promql_parser.parse(expr)
    except (ValueError, TypeError) as err:
        return Parsed(error=str(err) or "does not parse")
    names: list[str | None] = []

    def visit(node: Any, *_: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            names.append(_name(node))

    promql_parser.walk(tree, visit)
    return Parsed(metrics=tuple(names))


def _name(selector: Any) -> str | None:
    if selector.name:
        return str(selector.name)
    for matcher in selector.matchers.matchers:
        if matcher.name == "__name__" and matcher.op == promql_parser.MatchOp.Equal:
            return str(matcher.value)
    return None
