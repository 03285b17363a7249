"""The stock-drift checker's raw figures, mergeable across SKU partitions.

A ``DriftTally`` is what one checker found, before percentiles are taken: counts,
extremes, per-channel lag histograms (of lower and upper bounds), the violation log.
Every SKU x location is independent of the others, so several checkers may each take
a share of the SKUs (``check_run(..., workers=2)``) and their tallies add up to the
tally of one checker that saw everything; ``report`` then turns it into a ``DriftReport``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from collectors.drift.lag import LagHistogram
from collectors.drift.model import DriftConfig
from collectors.drift.report import ChannelDrift, DriftReport, ViolationLog

__all__ = ["MAX_DUPLICATE_EXAMPLES", "UNKNOWN_COUNTS", "ChannelTally", "DriftTally"]

MAX_DUPLICATE_EXAMPLES = 20
UNKNOWN_COUNTS = ("info", "never_completed", "resolved_ok", "resolved_fail", "late")


class ChannelTally:
    """Running figures of one channel's views."""

    __slots__ = ("lags", "max_abs", "never", "observations", "outside", "untimed")

    def __init__(self) -> None:
        self.observations = 0
        self.outside = 0
        self.max_abs = 0
        self.never = 0
        self.untimed = 0  # caught up with, but acknowledged too far back to time
        self.lags = LagHistogram()  # the lower and upper bound of each timed lag

    def merge(self, other: ChannelTally) -> None:
        self.observations += other.observations
        self.outside += other.outside
        self.max_abs = max(self.max_abs, other.max_abs)
        self.never += other.never
        self.untimed += other.untimed
        self.lags.merge(other.lags)

    def result(self) -> ChannelDrift:
        return ChannelDrift(
            self.observations, self.outside, self.max_abs, self.lags.stats(self.never, self.untimed)
        )


def _unknown() -> dict[str, dict[str, int]]:
    return {kind: dict.fromkeys(UNKNOWN_COUNTS, 0) for kind in ("place", "cancel")}


@dataclass
class DriftTally:
    """Raw figures of one checker (see the module docstring)."""

    violations: ViolationLog
    truth_observations: int = 0
    truth_outside: int = 0
    truth_drift_min: int = 0
    truth_drift_max: int = 0
    view_observations: int = 0
    views_outside: int = 0
    unjudged: int = 0
    channels: dict[str, ChannelTally] = field(default_factory=dict)
    oversell_units: int = 0
    negative: int = 0
    place_invokes: int = 0
    sold_out: int = 0
    false_sold_out: int = 0
    conservation_checked: int = 0
    conservation_broken: int = 0
    duplicates: int = 0
    duplicate_applications: int = 0
    duplicate_examples: list[dict[str, Any]] = field(default_factory=list)
    unknown: dict[str, dict[str, int]] = field(default_factory=_unknown)
    records: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    cells: int = 0

    _SUMMED = (
        "truth_observations", "truth_outside", "view_observations", "views_outside",
        "unjudged", "oversell_units", "negative", "place_invokes", "sold_out",
        "false_sold_out", "conservation_checked", "conservation_broken", "duplicates",
        "duplicate_applications", "skipped", "cells",
    )  # fmt: skip

    def merge(self, other: DriftTally) -> None:
        """Add the tally of another share of the SKUs (each saw every fault event)."""
        for name in self._SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.truth_drift_min = min(self.truth_drift_min, other.truth_drift_min)
        self.truth_drift_max = max(self.truth_drift_max, other.truth_drift_max)
        for name, tally in other.channels.items():
            self.channels.setdefault(name, ChannelTally()).merge(tally)
        examples = sorted(self.duplicate_examples + other.duplicate_examples, key=_at)
        self.duplicate_examples = examples[:MAX_DUPLICATE_EXAMPLES]
        for kind, counts in other.unknown.items():
            for name, count in counts.items():
                self.unknown[kind][name] += count
        for stream, count in other.records.items():
            mine = self.records.get(stream, 0)
            self.records[stream] = max(mine, count) if stream == "events" else mine + count
        self.violations.merge(other.violations)

    def report(self, config: DriftConfig) -> DriftReport:
        overall = LagHistogram()
        for tally in self.channels.values():
            overall.merge(tally.lags)
        never = sum(tally.never for tally in self.channels.values())
        untimed = sum(tally.untimed for tally in self.channels.values())
        log = self.violations
        return DriftReport(
            config=config,
            truth_observations=self.truth_observations,
            truth_outside_interval=self.truth_outside,
            truth_drift_min=self.truth_drift_min,
            truth_drift_max=self.truth_drift_max,
            truth_drift_max_abs=max(-self.truth_drift_min, self.truth_drift_max),
            view_observations=self.view_observations,
            views_outside_interval=self.views_outside,
            views_drift_max_abs=max((t.max_abs for t in self.channels.values()), default=0),
            unjudged_observations=self.unjudged,
            channels={name: tally.result() for name, tally in sorted(self.channels.items())},
            oversell_units=self.oversell_units,
            negative_stock_observations=self.negative,
            place_invokes=self.place_invokes,
            sold_out_answers=self.sold_out,
            undersell_false_sold_out=self.false_sold_out,
            conservation_checked=self.conservation_checked,
            conservation_violations=self.conservation_broken,
            duplicates=self.duplicates,
            duplicate_applications=self.duplicate_applications,
            duplicate_examples=tuple(self.duplicate_examples),
            unknown_ops=sum(c["info"] + c["never_completed"] for c in self.unknown.values()),
            unknown={kind: dict(counts) for kind, counts in self.unknown.items()},
            lag=overall.stats(never, untimed),
            violations_total=log.total,
            violations_by_kind=dict(log.by_kind),
            violations_by_fault={name: dict(kinds) for name, kinds in log.by_fault.items()},
            violations_by_fault_set={k: dict(kinds) for k, kinds in log.by_fault_set.items()},
            violations=tuple(log.kept),
            records=dict(self.records),
            skipped_records=self.skipped,
            cells=self.cells,
        )


def _at(example: dict[str, Any]) -> float:
    return float(example["t"])
