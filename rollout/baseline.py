"""Compare a run with a baseline run (``peakops gate RUN --baseline OTHER``).

Per endpoint (p50/p95/p99, error ratio, throughput) and per SLO: the baseline's figure,
this run's and the change; then the plan's regression limits (``slo.regression``)
judged on them. Both runs are read with the gate's readers and judged under the same
plan (this run's), so a delta is never a difference of method. Nothing is written to
either run directory: a baseline is often a downloaded artefact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from collectors.drift import DriftConfig, DriftReport, check_run
from collectors.rundir import RunDir
from collectors.storewatch import outages, read_polls
from collectors.summary import run_stats
from collectors.timeline import run_timeline
from rollout.gate import judged, plan_of_run, quality_stats
from slo.baseline import comparability
from slo.conventions import STORE_OFFLINE
from slo.errors import UsageError
from slo.evaluation import Evaluation, Status, number
from slo.plan import Plan
from slo.regression import (
    LATENCY_METRICS,
    EndpointFigures,
    RunFigures,
    judge_regression,
    regression_endpoints,
)
from slo.runfiles import LEDGER_FILE, STOCK_FILE, STORES_FILE, VERDICT_FILE
from slo.stats import ALL_ENDPOINTS, RunStats
from slo.target import channel_locations

__all__ = ["BaselineJudgement", "Comparison", "SloDelta", "compare_runs", "judge_against"]

_PERCENTILES = {"p50": 50.0, "p95": 95.0, "p99": 99.0}


@dataclass(frozen=True)
class SloDelta:
    """One SLO's observed figure in the baseline and in this run (same plan, same unit)."""

    slo_id: str
    kind: str
    endpoint: str
    unit: str
    baseline: float | None
    current: float | None
    baseline_status: str | None
    current_status: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "slo_id": self.slo_id, "kind": self.kind, "endpoint": self.endpoint,
            "unit": self.unit, "baseline": _round(self.baseline),
            "current": _round(self.current), "baseline_status": self.baseline_status,
            "current_status": self.current_status,
        }  # fmt: skip


@dataclass(frozen=True)
class Comparison:
    """Two runs side by side. ``refused``: why they are not comparable (empty when they
    are); ``notes``: what else differs between their plans and runs."""

    run_id: str
    baseline_run_id: str
    current: RunFigures
    baseline: RunFigures
    slos: tuple[SloDelta, ...]
    refused: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def comparable(self) -> bool:
        return not self.refused

    def endpoints(self) -> list[str]:
        """Endpoints of either run, ``*`` last."""
        names = set(self.current.endpoints) | set(self.baseline.endpoints)
        return [
            *sorted(names - {ALL_ENDPOINTS}),
            *([ALL_ENDPOINTS] if ALL_ENDPOINTS in names else []),
        ]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``verdict.json``'s ``baseline`` key)."""
        return {
            "run_id": self.baseline_run_id,
            "comparable": self.comparable,
            "refused": list(self.refused),
            "notes": list(self.notes),
            "endpoints": [self._endpoint(name) for name in self.endpoints()],
            "oversell_units": {
                "baseline": self.baseline.oversell_units,
                "current": self.current.oversell_units,
            },
            "slos": [delta.to_dict() for delta in self.slos],
        }

    def _endpoint(self, name: str) -> dict[str, Any]:
        before, after = self.baseline.endpoints.get(name), self.current.endpoints.get(name)
        change: dict[str, float | None] = {
            f"{metric}_percent": _percent(_pct(before, metric), _pct(after, metric))
            for metric in LATENCY_METRICS
        }
        change["error_ratio_pp"] = _points(before, after)
        change["throughput_percent"] = _percent(
            before.throughput_per_s if before else None, after.throughput_per_s if after else None
        )
        return {"endpoint": name, "baseline": _figures(before), "current": _figures(after),
                "change": change}  # fmt: skip

    def markdown(self) -> list[str]:
        """The summary's baseline section: one row per endpoint, then the SLOs' figures."""
        lines = ["", f"## Compared with baseline `{self.baseline_run_id}`", ""]
        lines += [f"- plans differ: {note}" for note in self.notes]
        lines += ["| endpoint | requests | p50 | p95 | p99 | errors | throughput |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for name in self.endpoints():
            before, after = self.baseline.endpoints.get(name), self.current.endpoints.get(name)
            cells = [_arrow(_count(before), _count(after), "")]
            cells += [_arrow(_pct(before, m), _pct(after, m), " ms", True) for m in LATENCY_METRICS]
            cells.append(_ratio_arrow(before, after))
            cells.append(
                _arrow(
                    before.throughput_per_s if before else None,
                    after.throughput_per_s if after else None,
                    " req/s",
                    True,
                )
            )
            lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
        before_units, after_units = self.baseline.oversell_units, self.current.oversell_units
        if before_units is not None or after_units is not None:
            lines += ["", f"Oversell: {_arrow(before_units, after_units, ' units')}"]
        return lines


@dataclass(frozen=True)
class BaselineJudgement:
    """What ``gate --baseline`` adds to a verdict."""

    comparison: Comparison
    evaluations: tuple[Evaluation, ...]
    notes: tuple[str, ...]


def compare_runs(current_run: RunDir, baseline_run: RunDir, plan: Plan) -> Comparison:
    """Both runs' figures and SLOs under ``plan`` (this run's), and what makes them
    comparable or not. Reads, never writes, either directory."""
    found = comparability(plan, plan_of_run(baseline_run))
    refused = list(found.refused)
    header = baseline_run.header()
    status = header.get("status")
    if isinstance(status, str) and status != "completed":
        refused.insert(0, f"the baseline run did not finish (status: {status})")
    current, current_slos = _read(current_run, plan)
    baseline, baseline_slos = _read(baseline_run, plan)
    # A downloaded baseline's directory is often renamed (``baseline/``); its header
    # still names the run.
    baseline_id = str(header.get("run_id") or baseline_run.run_id)
    return Comparison(current_run.run_id, baseline_id, current, baseline,
                      _slo_deltas(baseline_slos, current_slos), tuple(refused),
                      found.notes)  # fmt: skip


def judge_against(current_run: RunDir, baseline_run: RunDir, plan: Plan) -> BaselineJudgement:
    """The plan's regression limits judged against ``baseline_run``.

    Raises ``UsageError`` (exit 2) naming every difference when the runs are not
    comparable: a baseline of another load or chaos schedule is the wrong argument,
    and no verdict is written for it.
    """
    comparison = compare_runs(current_run, baseline_run, plan)
    if not comparison.comparable:
        raise UsageError(
            f"--baseline {baseline_run.path}: not comparable with run {current_run.run_id}: "
            + "; ".join(comparison.refused)
            + " (compare runs of the same load and chaos schedule, or gate without --baseline)"
        )
    notes = [f"compared with baseline run {comparison.baseline_run_id}"]
    notes += [f"the baseline's plan differs: {note}" for note in comparison.notes]
    verdict = _baseline_verdict(baseline_run)
    if verdict not in (None, Status.PASS.value):
        notes.append(f"the baseline run's verdict was {verdict}, not pass")
    if plan.regression is None:
        notes.append("the plan has no regression limits (regression:): compared, not judged")
        return BaselineJudgement(comparison, (), tuple(notes))
    endpoints = regression_endpoints(plan.regression, plan.slos.objectives)
    evaluations = judge_regression(
        plan.regression, comparison.current, comparison.baseline,
        endpoints=endpoints, min_samples=plan.slos.min_samples,
    )  # fmt: skip
    return BaselineJudgement(comparison, evaluations, tuple(notes))


def _read(run: RunDir, plan: Plan) -> tuple[RunFigures, tuple[Evaluation, ...]]:
    """A run's figures and its SLOs judged under ``plan``, as the gate reads them."""
    timeline = run_timeline(run, [step.experiment for step in plan.chaos])
    stats, _ = run_stats(run, timeline)
    drift = _drift(run, plan)
    polls = read_polls(run) if run.file(STORES_FILE).exists() else []
    found = outages(timeline.spans, polls) if polls else []
    stats = replace(
        stats,
        drift=drift.to_stats() if drift is not None else None,
        store_reconcile_s=tuple(o.reconcile_s for o in found if o.samples) if polls else None,
        store_outages_scheduled=sum(step.experiment == STORE_OFFLINE for step in plan.chaos),
        chaos=timeline.chaos if plan.chaos else None,
        quality=quality_stats(timeline, drift),
    )
    figures = RunFigures(run.run_id, _endpoint_figures(stats),
                         drift.oversell_units if drift is not None else None)  # fmt: skip
    return figures, judged(plan, stats, timeline, drift)


def _drift(run: RunDir, plan: Plan) -> DriftReport | None:
    """``rollout.drift.check_drift`` without writing ``drift.json``."""
    if not (run.file(LEDGER_FILE).exists() or run.file(STOCK_FILE).exists()):
        return None
    config = DriftConfig(
        view_staleness_s=plan.target.probes.view_staleness_s,
        channel_locations=channel_locations(plan.target),
        fault_recovery_s=plan.slos.recovery_allowance_s,
    )
    return check_run(run.path, config)


def _endpoint_figures(stats: RunStats) -> dict[str, EndpointFigures]:
    figures = {}
    for name, es in stats.endpoints.items():
        counted = es.latency.total_count > 0
        percentiles = {metric: es.latency.value_at_percentile(p) if counted else None
                       for metric, p in _PERCENTILES.items()}  # fmt: skip
        rate = es.requests / stats.elapsed_s if stats.elapsed_s > 0 else None
        figures[name] = EndpointFigures(name, es.requests, es.failures, percentiles, rate)
    return figures


def _slo_deltas(
    baseline: tuple[Evaluation, ...], current: tuple[Evaluation, ...]
) -> tuple[SloDelta, ...]:
    before = {e.slo_id: e for e in baseline}
    after = {e.slo_id: e for e in current}
    ids = [e.slo_id for e in current] + [e.slo_id for e in baseline if e.slo_id not in after]
    deltas = []
    for slo_id in ids:
        b, c = before.get(slo_id), after.get(slo_id)
        any_ = c if c is not None else b
        assert any_ is not None
        deltas.append(SloDelta(
            slo_id, any_.kind, any_.endpoint, any_.unit,
            b.observed if b else None, c.observed if c else None,
            b.status.value if b else None, c.status.value if c else None,
        ))  # fmt: skip
    return tuple(deltas)


def _baseline_verdict(run: RunDir) -> str | None:
    if not run.file(VERDICT_FILE).exists():
        return None
    try:
        status = json.loads(run.file(VERDICT_FILE).read_text(encoding="utf-8")).get("status")
    except (OSError, ValueError, AttributeError):
        return None
    return status if isinstance(status, str) else None


def _pct(figures: EndpointFigures | None, metric: str) -> float | None:
    return figures.percentiles_ms.get(metric) if figures is not None else None


def _count(figures: EndpointFigures | None) -> float | None:
    return float(figures.requests) if figures is not None else None


def _figures(figures: EndpointFigures | None) -> dict[str, Any] | None:
    if figures is None:
        return None
    data: dict[str, Any] = {"requests": figures.requests, "failures": figures.failures,
                            "error_ratio": _round(figures.error_ratio, 6)}  # fmt: skip
    data.update({f"{m}_ms": _round(figures.percentiles_ms.get(m)) for m in LATENCY_METRICS})
    data["throughput_per_s"] = _round(figures.throughput_per_s)
    return data


def _percent(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or before == 0:
        return None
    return round((after / before - 1) * 100, 2)


def _points(before: EndpointFigures | None, after: EndpointFigures | None) -> float | None:
    b, a = (before.error_ratio if before else None), (after.error_ratio if after else None)
    return None if a is None or b is None else round((a - b) * 100, 4)


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _arrow(before: float | None, after: float | None, unit: str, relative: bool = False) -> str:
    """``182 → 204 ms (+12 %)``; ``-`` for a side that has no figure."""
    left = "-" if before is None else number(before)
    right = "-" if after is None else number(after)
    change = _percent(before, after) if relative else None
    suffix = "" if change is None else f" ({'+' if change >= 0 else '-'}{number(abs(change))} %)"
    return f"{left} → {right}{unit}{suffix}"


def _ratio_arrow(before: EndpointFigures | None, after: EndpointFigures | None) -> str:
    b, a = (before.error_ratio if before else None), (after.error_ratio if after else None)
    left = "-" if b is None else f"{number(b * 100)} %"
    right = "-" if a is None else f"{number(a * 100)} %"
    points = _points(before, after)
    suffix = "" if points is None else f" ({'+' if points >= 0 else '-'}{number(abs(points))} pp)"
    return f"{left} → {right}{suffix}"
