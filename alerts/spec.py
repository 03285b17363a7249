"""The plan's SLOs as Prometheus can judge them live (plan model -> ``AlertSpec``).

Each objective kind maps to an SLI over metrics named in ``slo.conventions``:

* ``latency``: successful requests of the endpoint slower than the threshold, from the
  client latency histogram (bad = all - the ``le`` bucket at the threshold, which must
  be a bucket boundary); budget 1 - percentile.
* ``error_ratio``: requests with ``outcome="fail"`` / all requests; budget ``max``.
* ``convergence_lag``: the peak-day collector's convergence lags (the proved, lower
  bound of each bracket) above the threshold, likewise from its lag histogram; budget
  1 - percentile.
* ``oversell``: the peak-day collector's observations of available stock below zero,
  a count against ``max`` per SLO period.
* ``drift_outside_interval``: the collector's channel views outside their staleness
  allowance, a count against ``max`` per SLO period.

The others have no live SLI and are skipped with the reason (``SKIP_REASONS``).
Histogram thresholds must be bucket boundaries: bad = all - the ``le`` bucket.
"""

from __future__ import annotations

from collections.abc import Callable

from alerts.model import AlertSlo, AlertSpec, CountSli, Selector, Skipped
from alerts.window_sets import load_window_set, number
from slo.conventions import (
    COLLECT_LAG_BUCKETS_S,
    LABEL_BOUND,
    LABEL_CHANNEL,
    METRIC_COLLECT_LAG,
    METRIC_COLLECT_LAG_PENDING,
    METRIC_COLLECT_NEGATIVE,
    METRIC_COLLECT_VIEW_OBSERVATIONS,
    METRIC_COLLECT_VIEW_OUTSIDE,
)
from slo.durations import format_duration_ms
from slo.objectives import (
    ConvergenceLagObjective,
    DriftObjective,
    ErrorRatioObjective,
    LatencyObjective,
    Objective,
    OversellObjective,
)
from slo.plan import Plan
from slo.promql import (
    SAMPLE_ENDPOINT,
    bucket_at,
    error_ratio_sli,
    histogram_sli,
    latency_sli,
)
from slo.stats import ALL_ENDPOINTS

__all__ = [
    "COLLECTOR",
    "LOAD_PROCESS",
    "SAMPLE_ENDPOINT",
    "SKIP_REASONS",
    "alert_spec",
    "bucket_at",
]

LOAD_PROCESS = "the load process (peakops rehearse / load)"
COLLECTOR = "the peak-day collector (peakops collect)"

SKIP_REASONS = {
    "throughput": "throughput compares sent with planned arrivals over a whole run; "
    "a live rate has no planned total to compare with",
    "recovery": "recovery times the return to steady state after each injected fault; "
    "Prometheus does not know when a fault ended",
    "undersell_ratio": "false sold-outs per order attempt need the order ledger of a "
    "run; neither the load process nor the collector counts them live",
    "store_reconcile": "store reconciliation is timed from the ledger after each store "
    "outage; no live metric measures it",
}
"""Objective kinds without a live SLI, and why (printed in the generated files)."""

_DURING = {
    "steady": "The plan judges this SLO in steady state only; live rules cannot tell "
    "fault windows apart and judge all traffic.",
    "faults": "The plan judges this SLO during fault windows only; live rules cannot "
    "tell fault windows apart and judge all traffic.",
}


def alert_spec(plan: Plan) -> AlertSpec:
    """The plan's SLOs reduced to live SLIs; raises ``UsageError`` for a latency or lag
    threshold that is not a bucket boundary (naming the SLO and the nearest ones)."""
    slos: list[AlertSlo] = []
    skipped: list[Skipped] = []
    for objective in plan.slos.objectives:
        build = _BUILDERS.get(objective.kind)
        if build is None:
            reason = SKIP_REASONS.get(objective.kind, "no live SLI for this kind of objective yet")
            skipped.append(Skipped(objective.id, objective.kind, reason))
        else:
            slos.append(build(objective))
    name = plan.slos.alert_windows
    return AlertSpec(
        plan_name=plan.name,
        window_set_name=name,
        windows=load_window_set(name),
        slos=tuple(slos),
        skipped=tuple(skipped),
        min_events=plan.slos.alert_min_events,
    )


def _where(endpoint: str) -> str:
    return "every endpoint" if endpoint == ALL_ENDPOINTS else endpoint


def _latency(objective: Objective) -> AlertSlo:
    assert isinstance(objective, LatencyObjective)
    sli = latency_sli(objective)
    return AlertSlo(
        id=objective.id,
        kind=objective.kind,
        objective=f"p{number(objective.percentile)} latency of successful requests to "
        f"{_where(objective.endpoint)} below {format_duration_ms(objective.threshold_ms)}",
        sli=sli,
        budget=float(number((100 - objective.percentile) / 100)),
        presence=sli.total,
        served_by=LOAD_PROCESS,
        notes=_notes(objective.during),
    )


def _convergence_lag(objective: Objective) -> AlertSlo:
    assert isinstance(objective, ConvergenceLagObjective)
    metric = METRIC_COLLECT_LAG
    upper = bucket_at(objective.id, objective.threshold_ms, COLLECT_LAG_BUCKETS_S, metric)
    lower = {LABEL_BOUND: "lower"}
    sli = histogram_sli(metric, upper, lower, {**lower, LABEL_CHANNEL: "web"})
    return AlertSlo(
        id=objective.id,
        kind=objective.kind,
        objective=f"p{objective.percentile} of truth change -> every channel view shows it "
        f"below {format_duration_ms(objective.threshold_ms)}",
        sli=sli,
        budget=float(number((100 - objective.percentile) / 100)),
        presence=sli.total,
        served_by=COLLECTOR,
        notes=(
            "Live, each lag is the proved lower bound of the collector's bracket, per "
            "channel; a change no view shows yet is in "
            f"{METRIC_COLLECT_LAG_PENDING}, not here.",
        ),
    )


def _error_ratio(objective: Objective) -> AlertSlo:
    assert isinstance(objective, ErrorRatioObjective)
    sli = error_ratio_sli(objective)
    return AlertSlo(
        id=objective.id,
        kind=objective.kind,
        objective=f"at most {number(objective.max_ratio * 100)} % of requests to "
        f"{_where(objective.endpoint)} fail",
        sli=sli,
        budget=objective.max_ratio,
        presence=sli.total,
        served_by=LOAD_PROCESS,
        notes=_notes(objective.during),
    )


def _oversell(objective: Objective) -> AlertSlo:
    assert isinstance(objective, OversellObjective)
    bad = Selector.of(METRIC_COLLECT_NEGATIVE)
    return AlertSlo(
        id=objective.id,
        kind=objective.kind,
        objective=f"at most {objective.max_units} readings of available stock below zero "
        "per SLO period",
        sli=CountSli(bad=bad, samples=((Selector.of(bad.metric, source="truth"), "bad"),)),
        budget=float(objective.max_units),
        presence=bad,
        served_by=COLLECTOR,
        notes=(
            "The plan counts units sold beyond stock from the order ledger; the peak-day "
            "collector sees them as available stock read below zero.",
        ),
    )


def _drift(objective: Objective) -> AlertSlo:
    assert isinstance(objective, DriftObjective)
    bad = Selector.of(METRIC_COLLECT_VIEW_OUTSIDE)
    notes = [
        "The peak-day collector judges channel views against the truth it read within "
        "their staleness allowance."
    ]
    if objective.tolerate:
        notes.append(
            f"The plan tolerates drift during {', '.join(objective.tolerate)}; live rules "
            "cannot tell fault windows apart and count it."
        )
    return AlertSlo(
        id=objective.id,
        kind=objective.kind,
        objective=f"at most {objective.max_count} channel-view observations outside "
        "their staleness allowance per SLO period",
        sli=CountSli(bad=bad, samples=((Selector.of(bad.metric, channel="web"), "bad"),)),
        budget=float(objective.max_count),
        presence=Selector.of(METRIC_COLLECT_VIEW_OBSERVATIONS),
        served_by=COLLECTOR,
        notes=tuple(notes),
    )


def _notes(during: str) -> tuple[str, ...]:
    return (_DURING[during],) if during in _DURING else ()


_BUILDERS: dict[str, Callable[[Objective], AlertSlo]] = {
    "latency": _latency,
    "error_ratio": _error_ratio,
    "convergence_lag": _convergence_lag,
    "oversell": _oversell,
    "drift_outside_interval": _drift,
}
