"""Were the stock measurements complete enough to judge? A run that could not see is inconclusive.

Pure. Stock probes that failed (the OMS did not answer), order operations whose outcome
stayed unknown (they widen the drift checker's interval, which biases toward a pass) and
observations the checker could not judge are counted; past the plan's ratios
(``slos.dataQuality``) the run is inconclusive, and so is a probe or resolution that
stopped on an adapter error. Never a silent pass on missing data.
"""

from __future__ import annotations

from dataclasses import dataclass

from slo.evaluation import Evaluation, Status, percent
from slo.policy import DataQuality

__all__ = ["QUALITY_CHECK_ID", "QualityStats", "check_quality"]

QUALITY_CHECK_ID = "data-quality"


@dataclass(frozen=True)
class QualityStats:
    """How complete the run's stock measurements were."""

    probe_reads: int = 0
    probe_errors: int = 0
    probe_failure: str | None = None
    operations: int = 0
    unresolved: int = 0
    resolve_failure: str | None = None
    observations: int = 0
    unjudged: int = 0


def check_quality(stats: QualityStats | None, limits: DataQuality) -> Evaluation | None:
    """An evaluation of the measurements' completeness, or None when nothing was probed."""
    if stats is None:
        return None
    problems: list[str] = []
    if stats.probe_failure:
        problems.append(f"stock probes stopped on an adapter error: {stats.probe_failure}")
    if stats.resolve_failure:
        problems.append(f"resolving unknown outcomes stopped: {stats.resolve_failure}")
    ratios = (
        ("stock reads failed", stats.probe_errors, stats.probe_reads, limits.max_probe_error_ratio),
        ("order operations stayed unknown", stats.unresolved, stats.operations,
         limits.max_unresolved_ratio),
        ("stock observations unjudged", stats.unjudged, stats.observations,
         limits.max_unjudged_ratio),
    )  # fmt: skip
    figures = []
    worst = 0.0
    for what, count, total, limit in ratios:
        ratio = count / total if total else 0.0
        worst = max(worst, ratio)
        figures.append(f"{count} of {total} {what}")
        if ratio > limit:
            problems.append(f"{count} of {total} {what} ({percent(ratio)}, max {percent(limit)})")
    status = Status.INCONCLUSIVE if problems else Status.PASS
    reason = "measurements incomplete: " + "; ".join(problems) if problems else "; ".join(figures)
    return Evaluation(
        slo_id=QUALITY_CHECK_ID, kind="data_quality", endpoint="*", status=status,
        observed=round(worst, 4), threshold=None, unit="ratio",
        samples=stats.probe_reads + stats.operations, reason=reason,
    )  # fmt: skip
