"""Offline lint of dashboard JSON: what would break on screen, found before Grafana.

Checks, each problem reported with file, panel title and reason:

* the dashboard survives a round trip through the SDK's models (a field the models do
  not know, or a value they change, is reported by its path);
* panel ids unique and positive, query refIds present and unique within each panel;
* grid positions inside 24 columns, no two top-level panels overlapping;
* datasource references: a panel, query or variable reads a datasource variable the
  dashboard defines; every template variable used is defined;
* every PromQL expression parses (``dashboards.promql_check``) and every series it
  names is produced by the suite (``dashboards.catalog``: the load process, the
  peak-day collector, the reference OMS, the recording rules).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards.catalog import MetricCatalog
from dashboards.panels import GRID_COLUMNS
from dashboards.promql_check import INTERVALS, parse_query, resolve_variables, variables_in
from dashboards.render import to_dict

__all__ = ["DASHBOARD", "Problem", "lint_document", "lint_file"]

DASHBOARD = "(dashboard)"
"""The panel title of a problem that belongs to no panel."""

Json = dict[str, Any]


@dataclass(frozen=True)
class Problem:
    """One lint finding."""

    file: str
    panel: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.panel}: {self.reason}"


def lint_file(path: Path, known: MetricCatalog) -> list[Problem]:
    """Every problem of the dashboard in ``path`` (unreadable or not JSON: one problem)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        return [Problem(str(path), DASHBOARD, f"cannot read: {err.strerror or err}")]
    except ValueError as err:
        return [Problem(str(path), DASHBOARD, f"not JSON: {err}")]
    if not isinstance(doc, dict):
        return [Problem(str(path), DASHBOARD, "not a dashboard: expected a JSON object")]
    return lint_document(doc, str(path), known)


def lint_document(doc: Json, file: str, known: MetricCatalog) -> list[Problem]:
    """Every problem of one dashboard document."""
    found = [Problem(file, panel, reason) for panel, reason in _round_trip(doc)]
    panels = _panels(doc)
    for check in (_ids, _grid):
        found += [Problem(file, p, r) for p, r in check(doc, panels)]
    found += [Problem(file, p, r) for p, r in _queries(doc, panels, known)]
    return found


def _title(panel: Json) -> str:
    return str(panel.get("title") or f"panel id {panel.get('id')}")


def _panels(doc: Json) -> list[tuple[Json, bool]]:
    """Every panel, with whether it sits at the top level (rows' own panels are not)."""
    out: list[tuple[Json, bool]] = []
    for panel in doc.get("panels") or []:
        if isinstance(panel, dict):
            out.append((panel, True))
            out += [(p, False) for p in panel.get("panels") or [] if isinstance(p, dict)]
    return out


def _round_trip(doc: Json) -> Iterator[tuple[str, str]]:
    register_default_plugins()
    try:
        back = to_dict(Dashboard.from_json(doc))
    except Exception as err:  # the SDK raises anything on a malformed document
        yield DASHBOARD, f"the SDK's models cannot read it: {type(err).__name__}: {err}"
        return
    for path, why in _lost(doc, back, ""):
        yield DASHBOARD, f"round trip through the SDK models: {path or '/'} {why}"


def _lost(ours: Any, back: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(ours, dict) and isinstance(back, dict):
        for key, value in ours.items():
            if key not in back:
                if value not in (None, [], {}):
                    yield f"{path}/{key}", "is dropped (a field the models do not know)"
            else:
                yield from _lost(value, back[key], f"{path}/{key}")
    elif isinstance(ours, list) and isinstance(back, list) and len(ours) == len(back):
        for index, (a, b) in enumerate(zip(ours, back, strict=True)):
            yield from _lost(a, b, f"{path}/{index}")
    elif ours != back and not (_number(ours) and _number(back) and float(ours) == float(back)):
        yield path, f"changes from {json.dumps(ours)[:60]} to {json.dumps(back)[:60]}"


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ids(doc: Json, panels: Sequence[tuple[Json, bool]]) -> Iterator[tuple[str, str]]:
    seen: dict[int, str] = {}
    for panel, _top in panels:
        pid = panel.get("id")
        if type(pid) is not int or pid < 1:
            yield _title(panel), f"panel id {pid!r}: expected a positive integer"
        elif pid in seen:
            yield _title(panel), f"panel id {pid} is also used by {seen[pid]!r}"
        else:
            seen[pid] = _title(panel)
        refs = [t.get("refId") for t in panel.get("targets") or [] if isinstance(t, dict)]
        for ref in refs:
            if not ref:
                yield _title(panel), "a query has no refId"
        dupes = sorted({r for r in refs if r and refs.count(r) > 1})
        if dupes:
            yield _title(panel), f"refId {', '.join(dupes)} used by more than one query"


def _grid(doc: Json, panels: Sequence[tuple[Json, bool]]) -> Iterator[tuple[str, str]]:
    placed: list[tuple[str, tuple[int, int, int, int]]] = []
    for panel, top in panels:
        pos = panel.get("gridPos")
        box = tuple(pos.get(k) for k in ("x", "y", "w", "h")) if isinstance(pos, dict) else ()
        if len(box) != 4 or not all(type(v) is int for v in box):
            yield _title(panel), f"gridPos {pos!r}: expected integers x, y, w, h"
            continue
        x, y, w, h = (int(v) for v in box if v is not None)
        if x < 0 or y < 0 or w < 1 or h < 1 or x + w > GRID_COLUMNS:
            yield _title(panel), f"gridPos x={x} w={w} y={y} h={h}: outside the 24 columns"
            continue
        if not top:
            continue
        for other, (ox, oy, ow, oh) in placed:
            if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
                yield _title(panel), f"overlaps {other!r} (gridPos x={x} y={y} w={w} h={h})"
        placed.append((_title(panel), (x, y, w, h)))


def _variables(doc: Json) -> dict[str, Json]:
    listed = (doc.get("templating") or {}).get("list") or []
    return {str(v.get("name")): v for v in listed if isinstance(v, dict)}


def _datasource(ref: Any, variables: Mapping[str, Json], what: str) -> Iterator[str]:
    if not isinstance(ref, dict):
        yield f"{what} has no datasource reference"
        return
    uid = str(ref.get("uid", ""))
    if ref.get("type") == "grafana":
        return
    names = variables_in(uid)
    if not names:
        yield f"{what} names datasource uid {uid!r}: use the datasource variable"
    for name in names:
        if variables.get(name, {}).get("type") != "datasource":
            yield f"{what} reads datasource ${{{name}}}, which is not a datasource variable"


def _queries(
    doc: Json, panels: Sequence[tuple[Json, bool]], known: MetricCatalog
) -> Iterator[tuple[str, str]]:
    variables = _variables(doc)
    all_values = {n: str(v.get("allValue") or ".*") for n, v in variables.items()}
    for name, variable in variables.items():
        where = f"variable {name}"
        if variable.get("type") == "query":
            yield from ((where, r) for r in _datasource(variable.get("datasource"), variables,
                                                         "the variable"))  # fmt: skip
            query = variable.get("query")
            text = query.get("query") if isinstance(query, dict) else query
            yield from ((where, r) for r in _expression(str(text or ""), all_values, variables,
                                                         known))  # fmt: skip
    for note in (doc.get("annotations") or {}).get("list") or []:
        reasons = _datasource(note.get("datasource"), variables, "the annotation query")
        yield from ((f"annotation {note.get('name')}", r) for r in reasons)
    for panel, _top in panels:
        targets = [t for t in panel.get("targets") or [] if isinstance(t, dict)]
        if not targets:
            continue
        yield from ((_title(panel), r) for r in _datasource(panel.get("datasource"), variables,
                                                             "the panel"))  # fmt: skip
        for target in targets:
            what = f"query {target.get('refId')}"
            if "datasource" in target and target["datasource"] != panel.get("datasource"):
                yield _title(panel), f"{what} reads another datasource than its panel"
            reasons = _expression(str(target.get("expr") or ""), all_values, variables, known)
            yield from ((_title(panel), f"{what}: {r}") for r in reasons)


def _expression(
    expr: str, all_values: Mapping[str, str], variables: Mapping[str, Json], known: MetricCatalog
) -> Iterator[str]:
    if not expr.strip():
        yield "empty expression"
        return
    for name in sorted(variables_in(expr) - set(variables) - set(INTERVALS)):
        yield f"uses ${name}, which the dashboard does not define"
    parsed = parse_query(resolve_variables(expr, all_values))
    if parsed.error is not None:
        yield f"PromQL does not parse: {parsed.error}"
        return
    for metric in parsed.metrics:
        if metric is None:
            yield "a selector names no metric (labels alone select anything)"
        elif metric not in known:
            yield f"metric {metric} is produced by no collector, load process, OMS or rule"
