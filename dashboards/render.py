"""Dashboards -> deterministic JSON files: ids and refIds assigned, keys sorted.

The SDK leaves panel ids and query refIds unset; ``finalise`` numbers the panels in
grid order (1, 2, ...) and the queries of each panel ``A``, ``B`` ... so the same plan
always renders the same bytes (``peakops dashboards build --check``).
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Mapping
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards.burn import burn_dashboard
from dashboards.inputs import DashboardInputs
from dashboards.overview import overview_dashboard
from dashboards.stock import stock_dashboard
from slo.generated_files import diff_files, write_files

__all__ = [
    "DASHBOARDS",
    "build_files",
    "dashboard_uid",
    "diff_files",
    "finalise",
    "ref_id",
    "render_json",
    "to_dict",
    "write_files",
]

DASHBOARDS = ("overview", "stock", "slo-burn")
"""The dashboards of a plan, by the suffix of their uid and file name."""

_UID_MAX = 40  # Grafana's limit


def dashboard_uid(plan_name: str, which: str) -> str:
    """``peakops-<plan>-<which>``, shortened with a hash past Grafana's 40 characters."""
    slug = re.sub(r"[^a-z0-9-]+", "-", plan_name.lower()).strip("-") or "plan"
    uid = f"peakops-{slug}-{which}"
    if len(uid) <= _UID_MAX:
        return uid
    digest = hashlib.sha256(plan_name.encode()).hexdigest()[:6]
    keep = _UID_MAX - len(f"peakops--{digest}-{which}")
    return f"peakops-{slug[:keep]}-{digest}-{which}"


def ref_id(index: int) -> str:
    """``A`` ... ``Z``, then ``AA``, ``AB`` ...: Grafana's own sequence."""
    letters = string.ascii_uppercase
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = letters[rest] + out
    return out


def to_dict(model: object) -> dict[str, Any]:
    """An SDK model as plain JSON data."""
    data: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return data


def finalise(doc: dict[str, Any]) -> dict[str, Any]:
    """Number panels (rows included, nested too) and their queries, in place; ``doc``."""
    next_id = 1
    for panel in _all_panels(doc.get("panels", [])):
        panel["id"] = next_id
        next_id += 1
        for index, target in enumerate(panel.get("targets") or []):
            target["refId"] = ref_id(index)
    return doc


def _all_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for panel in panels:
        out.append(panel)
        out += _all_panels(panel.get("panels") or [])
    return out


def render_json(doc: Mapping[str, Any]) -> str:
    """Sorted keys, two-space indent, a final newline: byte-stable."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build_files(inputs: DashboardInputs, burn_limits: tuple[float, float]) -> dict[str, str]:
    """``<plan>-<which>.json`` -> its text, for the three dashboards of the plan."""
    plan = inputs.plan
    models = {
        "overview": overview_dashboard(plan, dashboard_uid(plan.name, "overview")),
        "stock": stock_dashboard(plan, dashboard_uid(plan.name, "stock")),
        "slo-burn": burn_dashboard(inputs, dashboard_uid(plan.name, "slo-burn"), burn_limits),
    }
    return {
        f"{plan.name}-{which}.json": render_json(finalise(to_dict(models[which].build())))
        for which in DASHBOARDS
    }
