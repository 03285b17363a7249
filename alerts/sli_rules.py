"""Generators of SLI recording rules: one series per SLO and window, and the period's.

Windowed SLIs are what the burn-rate alerts compare (``ratio_rate5m`` ...). The
period's SLI is computed **exactly from event counts** over the whole period
(``sum(increase(bad[30d])) / sum(increase(total[30d]))``), not as an average of
5-minute ratios, which weighs a quiet night's minute as much as a peak minute.
"""

from __future__ import annotations

from alerts.durations import format_window
from alerts.model import AlertSlo, AlertSpec, RatioSli, RecordingRule
from slo import promql
from slo.conventions import (
    LABEL_SLO,
    RULE_SLI_BAD,
    RULE_SLI_ERROR,
    RULE_SLI_EVENTS,
    window_rule,
)
from slo.promql import events_expr

__all__ = ["events_expr", "period_sli_rules", "sli_expr", "sli_rule_name", "window_sli_rules"]


def sli_rule_name(slo: AlertSlo, window: str) -> str:
    """The recorded SLI of ``slo`` over ``window``: an error ratio or a bad count."""
    prefix = RULE_SLI_ERROR if isinstance(slo.sli, RatioSli) else RULE_SLI_BAD
    return window_rule(prefix, window)


def sli_expr(slo: AlertSlo, window: str, function: str) -> str:
    """PromQL of the SLI over ``window`` (``slo.promql.sli_expr``: the gate reads it too)."""
    return promql.sli_expr(slo.sli, window, function)


def _labels(slo: AlertSlo) -> tuple[tuple[str, str], ...]:
    return ((LABEL_SLO, slo.id),)


def window_sli_rules(slo: AlertSlo, spec: AlertSpec) -> tuple[RecordingRule, ...]:
    """The SLI over every window an alert reads; with the low-traffic guard, the event
    count over every long window too."""
    rules = [
        RecordingRule(sli_rule_name(slo, w), sli_expr(slo, w, "rate"), _labels(slo))
        for w in map(format_window, spec.windows.windows_s)
    ]
    if spec.min_events is not None and isinstance(slo.sli, RatioSli):
        rules += [
            RecordingRule(window_rule(RULE_SLI_EVENTS, w), events_expr(slo.sli, w), _labels(slo))
            for w in map(format_window, spec.windows.long_windows_s)
        ]
    return tuple(rules)


def period_sli_rules(slo: AlertSlo, spec: AlertSpec) -> tuple[RecordingRule, ...]:
    """The SLI over the whole SLO period, from exact event counts."""
    period = format_window(spec.windows.period)
    return (
        RecordingRule(sli_rule_name(slo, period), sli_expr(slo, period, "increase"), _labels(slo)),
    )
