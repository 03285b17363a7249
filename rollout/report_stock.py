"""Read what the report shows of stock: the drift check's result, the probes' observations
over time, and the store nodes' outboxes (backlog and reconciliation per outage).

``drift.json`` is the gate's: the report reads it rather than running the checker again,
so report and verdict agree. Its ``violations`` keep the first few in detail (with their
time, observed value and expected interval); the counts cover all. ``stock.jsonl`` gives
how many observations were made when, ``stores.jsonl`` the backlog each store held.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from collectors.jsonl import RecordError
from collectors.rundir import RunDir
from collectors.storewatch import StoreOutage, outages, parse_poll
from collectors.timeline import RunTimeline
from rollout.report_data import read_lenient
from slo.runfiles import DRIFT_FILE, STOCK_FILE, STORES_FILE

__all__ = ["DriftPoint", "StockData", "read_stock"]

_OUTSIDE = {"truth_outside_interval": "truth", "view_outside_interval": "view"}


@dataclass(frozen=True)
class DriftPoint:
    """One bucket: observations made, those outside the interval and the largest |drift|."""

    t: float
    truth: int = 0
    views: int = 0
    truth_outside: int = 0
    views_outside: int = 0
    truth_drift: int | None = None
    view_drift: int | None = None


@dataclass
class StockData:
    """The stock part of a report; ``drift`` is None when ``drift.json`` is not there."""

    drift: Mapping[str, Any] | None
    points: list[DriftPoint]
    backlog: dict[str, list[tuple[float, float | None]]]
    outages: list[StoreOutage] | None
    store_errors: int = 0
    gaps: list[str] = field(default_factory=list)

    @property
    def detail_complete(self) -> bool:
        """Every violation is in the file's detail (not only counted)."""
        if self.drift is None:
            return True
        return len(self.drift.get("violations") or []) >= int(self.drift.get("violations_total", 0))


def read_stock(
    run: RunDir,
    timeline: RunTimeline | None,
    origin: float,
    bucket_s: float,
    *,
    stores_expected: bool = False,
) -> StockData:
    """The run's stock figures, times in seconds after ``origin`` in ``bucket_s`` buckets."""
    gaps: list[str] = []
    drift = _drift(run, gaps)
    observed = read_lenient(run.file(STOCK_FILE), _observation, gaps)
    points = _points(observed, drift, origin, bucket_s)
    polls = read_lenient(run.file(STORES_FILE), _poll, gaps, expected=stores_expected)
    answered = [p for p in polls if "error" not in p]
    backlog: dict[str, list[tuple[float, float | None]]] = defaultdict(list)
    for poll in sorted(answered, key=lambda p: (p["store"], p["t"])):
        units = poll.get("pending_units")
        backlog[poll["store"]].append((poll["t"] - origin, None if units is None else units))
    found = outages(timeline.spans, polls) if answered and timeline is not None else None
    return StockData(drift, points, dict(backlog), found, len(polls) - len(answered), gaps)


def _drift(run: RunDir, gaps: list[str]) -> Mapping[str, Any] | None:
    path = run.file(DRIFT_FILE)
    if not path.exists():
        if run.file(STOCK_FILE).exists():
            gaps.append(f"{DRIFT_FILE}: missing (the gate writes it: peakops gate RUN_DIR)")
        return None
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as err:
        gaps.append(f"{DRIFT_FILE}: unreadable: {err}")
        return None
    if not isinstance(data, dict):
        gaps.append(f"{DRIFT_FILE}: unreadable: expected a JSON object")
        return None
    return data


def _observation(record: Mapping[str, Any], where: str) -> tuple[float, str]:
    t, kind = record.get("t"), record.get("kind")
    if not _finite(t) or kind not in ("truth", "view"):
        raise RecordError("expected 't' and a 'kind' of truth or view")
    return float(t), str(kind)  # type: ignore[arg-type]


def _poll(record: Mapping[str, Any], where: str) -> dict[str, Any]:
    return parse_poll(record, where)


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _points(
    observed: list[tuple[float, str]],
    drift: Mapping[str, Any] | None,
    origin: float,
    bucket_s: float,
) -> list[DriftPoint]:
    rows: dict[float, dict[str, Any]] = defaultdict(dict)

    def bucket(t: float) -> dict[str, Any]:
        return rows[math.floor((t - origin) / bucket_s) * bucket_s]

    for t, kind in observed:
        row = bucket(t)
        key = "truth" if kind == "truth" else "views"
        row[key] = row.get(key, 0) + 1
    for violation in (drift or {}).get("violations") or []:
        found = _OUTSIDE.get(str(violation.get("kind"))) if isinstance(violation, dict) else None
        if found is None or not _finite(violation.get("t")):
            continue
        row = bucket(float(violation["t"]))
        counted = "truth_outside" if found == "truth" else "views_outside"
        row[counted] = row.get(counted, 0) + 1
        size = _drift_size(violation)
        worst = "truth_drift" if found == "truth" else "view_drift"
        if size is not None:
            row[worst] = max(row.get(worst, 0), size)
    return [DriftPoint(t, **row) for t, row in sorted(rows.items())]


def _drift_size(violation: Mapping[str, Any]) -> int | None:
    """How far outside its interval an observation was, in units."""
    observed, low, high = (violation.get(k) for k in ("observed", "expected_lo", "expected_hi"))
    if not isinstance(observed, int):
        return None
    if isinstance(high, int) and observed > high:
        return observed - high
    if isinstance(low, int) and observed < low:
        return low - observed
    return None
