"""What the stock-drift checker found, and its JSON form (``drift.json``).

Holds the report model and the violation log, an accumulator whose size does not grow
with the run (the first few in detail, counts for all, per fault window). Convergence
lag, as lower and upper bounds, is summarised by ``collectors.drift.lag``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from collectors.drift.lag import LagStats
from collectors.drift.model import DriftConfig
from slo.stats import DriftStats

__all__ = [
    "KINDS",
    "NO_FAULT",
    "ChannelDrift",
    "DriftReport",
    "Violation",
    "ViolationLog",
    "fault_set_key",
]

KINDS = (
    "truth_outside_interval",
    "view_outside_interval",
    "oversell",
    "negative_stock",
    "undersell",
    "conservation",
    "duplicate",
)
NO_FAULT = "none"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Violation:
    """One violation: when, what, where, the observed value, the bounds, the faults active."""

    t: float
    kind: str
    sku: str
    location: str | None
    channel: str | None
    observed: int | None
    expected_lo: int | None
    expected_hi: int | None
    faults: tuple[str, ...]
    op: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["faults"] = list(self.faults)
        return data


class ViolationLog:
    """Counts every violation by kind and by fault window; keeps the first ``keep``."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.kept: list[Violation] = []
        self.total = 0
        self.by_kind: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.by_fault: dict[str, dict[str, int]] = {}
        self.by_fault_set: dict[str, dict[str, int]] = {}  # "a+b" (all active) -> kind -> n

    def add(
        self,
        kind: str,
        faults: tuple[str, ...],
        t: float,
        sku: str,
        location: str | None,
        *,
        channel: str | None = None,
        observed: int | None = None,
        bounds: tuple[int | None, int | None] = (None, None),
        op: str | None = None,
    ) -> None:
        self.total += 1
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        for name in faults or (NO_FAULT,):
            per_kind = self.by_fault.setdefault(name, {})
            per_kind[kind] = per_kind.get(kind, 0) + 1
        per_kind = self.by_fault_set.setdefault(fault_set_key(faults), {})
        per_kind[kind] = per_kind.get(kind, 0) + 1
        if len(self.kept) < self.keep:
            lo, hi = bounds
            self.kept.append(
                Violation(t, kind, sku, location, channel, observed, lo, hi, faults, op)
            )

    def merge(self, other: ViolationLog) -> None:
        """Add another log's counts; keep the earliest violations of both."""
        self.total += other.total
        for kind, count in other.by_kind.items():
            self.by_kind[kind] = self.by_kind.get(kind, 0) + count
        for mine_all, theirs in ((self.by_fault, other.by_fault),
                                 (self.by_fault_set, other.by_fault_set)):  # fmt: skip
            for name, kinds in theirs.items():
                mine = mine_all.setdefault(name, {})
                for kind, count in kinds.items():
                    mine[kind] = mine.get(kind, 0) + count
        self.kept = sorted(self.kept + other.kept, key=_when)[: self.keep]


def fault_set_key(faults: tuple[str, ...]) -> str:
    """The faults active together, as one key: ``network-cut+store-offline``, or ``none``."""
    return "+".join(faults) if faults else NO_FAULT


def _when(violation: Violation) -> float:
    return violation.t


@dataclass(frozen=True)
class ChannelDrift:
    """One channel's views: how many, how many outside the interval, worst drift, lag."""

    observations: int = 0
    outside_interval: int = 0
    max_abs_drift: int = 0
    lag: LagStats = field(default_factory=LagStats)


@dataclass(frozen=True)
class DriftReport:
    """Everything the checker found in one run (see docs/drift.md for each field)."""

    config: DriftConfig
    truth_observations: int
    truth_outside_interval: int
    truth_drift_min: int
    truth_drift_max: int
    truth_drift_max_abs: int
    view_observations: int
    views_outside_interval: int
    views_drift_max_abs: int
    unjudged_observations: int
    channels: Mapping[str, ChannelDrift]
    oversell_units: int
    negative_stock_observations: int
    place_invokes: int
    sold_out_answers: int
    undersell_false_sold_out: int
    conservation_checked: int
    conservation_violations: int
    duplicates: int
    duplicate_applications: int
    duplicate_examples: tuple[Mapping[str, Any], ...]
    unknown_ops: int
    unknown: Mapping[str, Mapping[str, int]]
    lag: LagStats
    violations_total: int
    violations_by_kind: Mapping[str, int]
    violations_by_fault: Mapping[str, Mapping[str, int]]
    violations_by_fault_set: Mapping[str, Mapping[str, int]]
    violations: tuple[Violation, ...]
    records: Mapping[str, int]
    skipped_records: int
    cells: int

    @property
    def undersell_ratio(self) -> float:
        """False sold-outs per place invoke (0.0 when nothing was placed)."""
        return self.undersell_false_sold_out / self.place_invokes if self.place_invokes else 0.0

    @property
    def lag_p50_s(self) -> float | None:
        return self.lag.p50_s

    @property
    def lag_p95_s(self) -> float | None:
        return self.lag.p95_s

    @property
    def lag_p99_s(self) -> float | None:
        """p99 of the lags' lower bounds (``lag_p99_upper_s``: of the upper bounds)."""
        return self.lag.p99_s

    @property
    def lag_worst_s(self) -> float | None:
        return self.lag.worst_s

    @property
    def lag_p99_upper_s(self) -> float | None:
        return self.lag.p99_upper_s

    @property
    def converged(self) -> int:
        return self.lag.converged

    @property
    def never_converged(self) -> int:
        return self.lag.never_converged

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``drift.json``): plain types only, stable field names."""
        data = {name: getattr(self, name) for name in _SCALARS}
        data.update(
            format_version=FORMAT_VERSION,
            config=asdict(self.config),
            undersell_ratio=round(self.undersell_ratio, 6),
            channels={name: asdict(ch) for name, ch in sorted(self.channels.items())},
            duplicate_examples=[dict(example) for example in self.duplicate_examples],
            unknown={kind: dict(counts) for kind, counts in self.unknown.items()},
            lag=asdict(self.lag),
            violations_by_kind=dict(self.violations_by_kind),
            violations_by_fault={k: dict(v) for k, v in sorted(self.violations_by_fault.items())},
            violations_by_fault_set={
                k: dict(v) for k, v in sorted(self.violations_by_fault_set.items())
            },
            violations=[violation.to_dict() for violation in self.violations],
            records=dict(self.records),
        )
        lag = self.lag  # lag_p99_s: the lower bound (what SLOs judge); lag_p99_upper_s
        data.update({f"lag_{p}_s": getattr(lag, f"{p}_s") for p in _PERCENTILES})
        data.update({f"lag_{p}_upper_s": getattr(lag, f"{p}_upper_s") for p in _PERCENTILES})
        data.update(converged=self.lag.converged, never_converged=self.lag.never_converged)
        return data

    def to_stats(self) -> DriftStats:
        """The figures the drift SLOs judge (``slo.stats.DriftStats``)."""
        lag = self.lag
        return DriftStats(
            oversell_units=self.oversell_units,
            negative_stock_observations=self.negative_stock_observations,
            truth_observations=self.truth_observations,
            truth_outside_interval=self.truth_outside_interval,
            view_observations=self.view_observations,
            views_outside_interval=self.views_outside_interval,
            place_invokes=self.place_invokes,
            undersell_false_sold_out=self.undersell_false_sold_out,
            lag_s={50: lag.p50_s, 95: lag.p95_s, 99: lag.p99_s, 100: lag.worst_s},
            lag_upper_s={
                50: lag.p50_upper_s,
                95: lag.p95_upper_s,
                99: lag.p99_upper_s,
                100: lag.worst_upper_s,
            },
            never_converged=lag.never_converged,
            violations_by_fault=self.violations_by_fault,
            violations_by_fault_set=self.violations_by_fault_set,
        )


_PERCENTILES = ("p50", "p95", "p99", "worst")
_SCALARS = (
    "truth_observations",
    "truth_outside_interval",
    "truth_drift_min",
    "truth_drift_max",
    "truth_drift_max_abs",
    "view_observations",
    "views_outside_interval",
    "views_drift_max_abs",
    "unjudged_observations",
    "oversell_units",
    "negative_stock_observations",
    "place_invokes",
    "sold_out_answers",
    "undersell_false_sold_out",
    "conservation_checked",
    "conservation_violations",
    "duplicates",
    "duplicate_applications",
    "unknown_ops",
    "violations_total",
    "skipped_records",
    "cells",
)
