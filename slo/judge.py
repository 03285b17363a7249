"""Everything a verdict is made of, judged in one place: SLOs, chaos outcomes, the load
generator's health and the completeness of the measurements.

Pure. ``judge`` is what the gate (and only the gate) calls; ``judge_drift`` is the
stock-drift part alone, for ``peakops drift``. Both return evaluations that
``slo.verdict.decide`` turns into the verdict.
"""

from __future__ import annotations

from slo.evaluate import evaluate
from slo.evaluation import Evaluation
from slo.experiments import ChaosRecord, judge_chaos
from slo.generator import check_generator
from slo.objectives import (
    ConvergenceLagObjective,
    DriftObjective,
    OversellObjective,
    UndersellObjective,
)
from slo.plan import Plan
from slo.quality import check_quality
from slo.stats import RunStats

__all__ = ["DRIFT_KINDS", "judge", "judge_drift"]

DRIFT_KINDS = (DriftObjective, OversellObjective, UndersellObjective, ConvergenceLagObjective)
"""The objectives the stock-drift checker's figures answer."""


def judge(plan: Plan, stats: RunStats) -> tuple[Evaluation, ...]:
    """Every evaluation of a run under ``plan``, in the order the reports show them."""
    slos = plan.slos
    found = list(
        evaluate(
            slos.objectives,
            stats,
            default_min_samples=slos.min_samples,
            recovery_allowance_s=slos.recovery_allowance_s,
        )
    )
    if plan.chaos:
        record = stats.chaos if stats.chaos is not None else ChaosRecord()
        found += judge_chaos([step.experiment for step in plan.chaos], record)
    for extra in (
        check_generator(stats.generator, slos),
        check_quality(stats.quality, slos.data_quality),
    ):
        if extra is not None:
            found.append(extra)
    return tuple(found)


def judge_drift(plan: Plan, stats: RunStats) -> tuple[Evaluation, ...]:
    """The plan's stock-drift objectives and the measurements' completeness, judged."""
    slos = plan.slos
    objectives = tuple(o for o in slos.objectives if isinstance(o, DRIFT_KINDS))
    found = list(evaluate(objectives, stats, default_min_samples=slos.min_samples))
    quality = check_quality(stats.quality, slos.data_quality)
    if quality is not None:
        found.append(quality)
    return tuple(found)
