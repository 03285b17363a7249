"""What the generated rules must answer for constant synthetic traffic (the test oracle).

The promtool tests of ``alerts.promtests`` feed counters that grow at a constant rate
from 0 at time 0. For such series every window's ratio is the ratio of the rates, and
a window longer than the data counts exactly what the data holds (a counter starting
at 0 is not extrapolated back). This module computes, in plain Python, which alerts
must fire at a given time, so that a generated test states the expected alerts of
*every* SLO reading the same series (two SLOs on the same endpoint see the same
requests).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alerts.alert_rules import burn_annotations, burn_threshold, no_data_annotations
from alerts.model import AlertSlo, AlertSpec, CountSli, Labels, RatioSli, Selector
from alerts.window_sets import BurnPair
from slo.conventions import LABEL_SEVERITY, LABEL_SLO, SEVERITY_TICKET

__all__ = ["ExpectedAlert", "Series", "expected_burn", "expected_no_data", "sli_value"]

Series = tuple[str, Labels]
"""One input series: metric name and sorted labels."""


@dataclass(frozen=True, slots=True)
class ExpectedAlert:
    labels: Labels
    annotations: Labels


def _sum(selector: Selector, rates: Mapping[Series, float]) -> float | None:
    found = [v for (metric, labels), v in rates.items() if selector.matches(metric, dict(labels))]
    return sum(found) if found else None


def sli_value(slo: AlertSlo, rates: Mapping[Series, float], covered_steps: float) -> float | None:
    """The SLI over a window covering ``covered_steps`` steps of data (None: no result).

    ``rates`` maps each input series to its increment per step.
    """
    sli = slo.sli
    if isinstance(sli, CountSli):
        return (_sum(sli.bad, rates) or 0.0) * covered_steps
    total = _sum(sli.total, rates)
    if total is None or total == 0:
        return None  # no series: no result; 0 / 0: NaN, never above a threshold
    if sli.bad is not None:
        return (_sum(sli.bad, rates) or 0.0) / total
    assert sli.good is not None
    good = _sum(sli.good, rates)
    return None if good is None else (total - good) / total


def _burns(
    slo: AlertSlo,
    spec: AlertSpec,
    pair: BurnPair,
    rates: Mapping[Series, float],
    eval_s: int,
    step_s: int,
) -> bool:
    for window_s in (pair.short_s, pair.long_s):
        value = sli_value(slo, rates, min(window_s, eval_s) / step_s)
        _, threshold = burn_threshold(slo, pair, window_s, spec.windows.period)
        if value is None or not value > threshold:
            return False
    if spec.min_events is not None and isinstance(slo.sli, RatioSli):
        events = (_sum(slo.sli.total, rates) or 0.0) * min(pair.long_s, eval_s) / step_s
        return events >= spec.min_events
    return True


def expected_burn(
    spec: AlertSpec, pair: BurnPair, rates: Mapping[Series, float], eval_s: int, step_s: int
) -> tuple[ExpectedAlert, ...]:
    """The pair's alerts firing at ``eval_s`` over series growing at ``rates`` from 0."""
    return tuple(
        ExpectedAlert(
            labels=((LABEL_SEVERITY, pair.severity), (LABEL_SLO, slo.id)),
            annotations=burn_annotations(slo, pair, spec),
        )
        for slo in sorted(spec.slos, key=lambda s: s.id)
        if _burns(slo, spec, pair, rates, eval_s, step_s)
    )


def expected_no_data(spec: AlertSpec, alive: set[Series]) -> tuple[ExpectedAlert, ...]:
    """No-data alerts firing when only ``alive`` series had samples in the window."""
    out = []
    for slo in sorted(spec.slos, key=lambda s: s.id):
        if any(slo.presence.matches(metric, dict(labels)) for metric, labels in alive):
            continue
        labels = dict(slo.presence.matchers) | {LABEL_SEVERITY: SEVERITY_TICKET, LABEL_SLO: slo.id}
        out.append(ExpectedAlert(tuple(sorted(labels.items())), no_data_annotations(slo, spec)))
    return tuple(out)
