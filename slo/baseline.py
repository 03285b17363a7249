"""Whether two runs can be compared: what differs between the plans they ran, and what of
that makes their figures incomparable.

Pure. A release is compared with the last good run of the **same rehearsal**: the same
order flood (profile, rates, duration, model, mix), the same faults at the same times,
the same kind of target. Those differences are refused: a p99 measured under a
different load says nothing about the release. Everything else that differs (the plan's
name, the OMS version, which is the point of comparing releases, the replicas, the
catalog, the SLOs) is named, and the comparison goes on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from slo.plan import Plan, plan_snapshot

__all__ = ["Comparability", "comparability"]

REFUSED: Final = ("load", "chaos", "deploy", "target.kind", "platform.kind")
"""Plan fields (dotted, and everything under them) whose differences are refused."""

NOTED_ONLY: Final = ("load.seed", "load.traceSampleRatio", "load.maxTracesPerSecond")
"""Inside a refused field, what does not change the flood's figures (only noted)."""

_IGNORED: Final = ("regression", "outputs", "collect", "monitoring")
"""Fields that do not change what a run measures; not even noted."""


@dataclass(frozen=True)
class Comparability:
    """``refused``: the differences that make the runs incomparable, one line each
    (``load.baseline: 900 → 1200``); ``notes``: the other differences."""

    refused: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def comparable(self) -> bool:
        return not self.refused


def comparability(current: Plan, baseline: Plan) -> Comparability:
    """What differs between the plan of this run and the baseline run's plan."""
    before = _flatten(plan_snapshot(baseline))
    after = _flatten(plan_snapshot(current))
    refused: list[str] = []
    notes: list[str] = []
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if old == new or path.startswith(_IGNORED):
            continue
        shown = (_show(old), _show(new))
        line = f"{path}: {shown[0]} → {shown[1]}" if shown[0] != shown[1] else f"{path}: changed"
        if _refused(path):
            refused.append(line)
        else:
            notes.append(line)
    return Comparability(tuple(refused), tuple(notes))


def _refused(path: str) -> bool:
    if any(path == noted or path.startswith(noted + ".") for noted in NOTED_ONLY):
        return False
    return any(path == field or path.startswith((field + ".", field + "[")) for field in REFUSED)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted paths to values; lists of chaos steps and objectives stay whole lists."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def _show(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
        return "[" + "; ".join(_step(v) for v in value) + "]" if value else "none"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def _step(item: Mapping[str, Any]) -> str:
    """A chaos step or an objective in a few words."""
    if "experiment" in item:
        held = f" for {item['duration']}" if item.get("duration") else ""
        return f"{item['experiment']} at {item.get('offset')}{held}"
    return str(item.get("id", json.dumps(item, sort_keys=True)))
