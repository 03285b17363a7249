"""Generator of the SLO's meta rules: objective, budget, burn rates, budget left, info.

Burn rate is the speed of spending: 1 spends the budget exactly by the end of the SLO
period. For a count SLO (a budget of units per period) the current burn rate is the
bad count over the shortest window / the share of the budget that window may spend;
with a budget of 0 it is +Inf once anything went bad (NaN before).
"""

from __future__ import annotations

from alerts.durations import format_window
from alerts.model import AlertSlo, AlertSpec, RatioSli, RecordingRule, Selector
from alerts.sli_rules import sli_rule_name
from alerts.window_sets import number
from slo.conventions import (
    LABEL_SLO,
    RULE_BUDGET_REMAINING,
    RULE_CURRENT_BURN,
    RULE_ERROR_BUDGET,
    RULE_ERROR_BUDGET_COUNT,
    RULE_OBJECTIVE,
    RULE_PERIOD_BURN,
    RULE_SLO_INFO,
)

__all__ = ["meta_rules"]


def meta_rules(slo: AlertSlo, spec: AlertSpec) -> tuple[RecordingRule, ...]:
    labels = ((LABEL_SLO, slo.id),)

    def of(name: str) -> str:
        return Selector.of(name, **{LABEL_SLO: slo.id}).promql()

    windows = spec.windows
    shortest, period = format_window(windows.windows_s[0]), format_window(windows.period)
    info = (
        ("kind", slo.kind),
        ("objective", slo.objective),
        ("period", period),
        (LABEL_SLO, slo.id),
        ("windows", spec.window_set_name),
    )
    rules = [RecordingRule(RULE_SLO_INFO, "vector(1)", info)]
    if isinstance(slo.sli, RatioSli):
        rules += [
            RecordingRule(RULE_OBJECTIVE, f"vector({number(1 - slo.budget)})", labels),
            RecordingRule(RULE_ERROR_BUDGET, f"vector({number(slo.budget)})", labels),
        ]
        current = (
            f"{of(sli_rule_name(slo, shortest))}\n/ on({LABEL_SLO})\n{of(RULE_ERROR_BUDGET)}\n"
        )
        spent = f"{of(sli_rule_name(slo, period))}\n/ on({LABEL_SLO})\n{of(RULE_ERROR_BUDGET)}\n"
    else:
        share = f"{windows.windows_s[0]} / {windows.period}"
        rules.append(
            RecordingRule(RULE_ERROR_BUDGET_COUNT, f"vector({number(slo.budget)})", labels)
        )
        current = (
            f"{of(sli_rule_name(slo, shortest))}\n/ on({LABEL_SLO})\n"
            f"({of(RULE_ERROR_BUDGET_COUNT)} * {share})\n"
        )
        spent = (
            f"{of(sli_rule_name(slo, period))}\n/ on({LABEL_SLO})\n{of(RULE_ERROR_BUDGET_COUNT)}\n"
        )
    rules += [
        RecordingRule(RULE_CURRENT_BURN, current, labels),
        RecordingRule(RULE_PERIOD_BURN, spent, labels),
        RecordingRule(RULE_BUDGET_REMAINING, f"1 - {of(RULE_PERIOD_BURN)}", labels),
    ]
    return tuple(rules)
