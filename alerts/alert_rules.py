"""Generators of the alerting rules: multiwindow multi-burn-rate alerts and no data.

Each window pair of the set is one alert (``PeakopsSLOBurnPageQuick`` ...): it fires
while both its short and its long window burn the budget faster than the pair's
factor, and, with ``slos.alertMinEvents``, only when the long window saw that many
events (a single failed request at 3 a.m. is not an outage). ``for: 0s``: the short
window already demands a sustained burn. ``PeakopsSLONoData`` fires when the SLI's
metric has been absent for the set's ``noData`` duration: silence is not success.
"""

from __future__ import annotations

from alerts.durations import format_window
from alerts.model import AlertingRule, AlertSlo, AlertSpec, RatioSli, Selector
from alerts.sli_rules import sli_rule_name
from alerts.window_sets import BurnPair, number
from slo.conventions import (
    ALERT_NO_DATA,
    LABEL_SEVERITY,
    LABEL_SLO,
    RULE_SLI_EVENTS,
    SEVERITY_TICKET,
    burn_alert_name,
    window_rule,
)

__all__ = [
    "RUNBOOK",
    "burn_alerts",
    "burn_annotations",
    "burn_threshold",
    "no_data_alerts",
    "no_data_annotations",
    "no_data_expr",
]

RUNBOOK = "docs/alerts.md"
"""Where each SLO's runbook section lives (anchor: the SLO id)."""


def burn_threshold(
    slo: AlertSlo, pair: BurnPair, window_s: int, period_s: int
) -> tuple[str, float]:
    """The SLI value above which ``window_s`` burns faster than the pair's factor, as
    PromQL and as the number Prometheus computes from it.

    A ratio SLI compares with factor x budget share; a count SLI with the units the
    window may spend at that speed: factor x budget x window / period.
    """
    factor, budget = number(pair.factor), number(slo.budget)
    if isinstance(slo.sli, RatioSli):
        return f"({factor} * {budget})", pair.factor * slo.budget
    text = f"({factor} * {budget} * {window_s} / {period_s})"
    return text, pair.factor * slo.budget * window_s / period_s


def burn_annotations(slo: AlertSlo, pair: BurnPair, spec: AlertSpec) -> tuple[tuple[str, str], ...]:
    period = format_window(spec.windows.period)
    share = number(pair.budget_fraction * 100)
    description = (
        f"SLO {slo.id}: {slo.objective}. Over the last {pair.long} and {pair.short} its "
        f"error budget burnt at more than {number(pair.factor)}x the rate that lasts the "
        f"{period} period ({share} % of the budget spent in {pair.long})."
    )
    summary = (
        f"{slo.id}: error budget burning over {number(pair.factor)}x "
        f"({pair.severity}, {pair.long}/{pair.short} windows)"
    )
    return _annotations(slo, " ".join((description, *slo.notes)), summary)


def _annotations(slo: AlertSlo, description: str, summary: str) -> tuple[tuple[str, str], ...]:
    return (
        ("description", description),
        ("runbook_url", f"{RUNBOOK}#{slo.id}"),
        ("summary", summary),
    )


def burn_alerts(slo: AlertSlo, spec: AlertSpec) -> tuple[AlertingRule, ...]:
    def of(name: str) -> str:
        return Selector.of(name, **{LABEL_SLO: slo.id}).promql()

    period = spec.windows.period
    rules = []
    for pair in spec.windows.pairs:
        parts = []
        for window_s in (pair.short_s, pair.long_s):
            threshold, _ = burn_threshold(slo, pair, window_s, period)
            parts.append(f"{of(sli_rule_name(slo, format_window(window_s)))} > {threshold}")
        if spec.min_events is not None and isinstance(slo.sli, RatioSli):
            parts.append(f"{of(window_rule(RULE_SLI_EVENTS, pair.long))} >= {spec.min_events}")
        rules.append(
            AlertingRule(
                alert=burn_alert_name(pair.severity, pair.speed),
                expr=f"\nand on({LABEL_SLO})\n".join(parts) + "\n",
                labels=((LABEL_SEVERITY, pair.severity), (LABEL_SLO, slo.id)),
                annotations=burn_annotations(slo, pair, spec),
            )
        )
    return tuple(rules)


def no_data_expr(slo: AlertSlo, spec: AlertSpec) -> str:
    return f"absent_over_time({slo.presence.promql()}[{format_window(spec.windows.no_data)}])"


def no_data_annotations(slo: AlertSlo, spec: AlertSpec) -> tuple[tuple[str, str], ...]:
    window = format_window(spec.windows.no_data)
    description = (
        f"{slo.presence.promql()} has been absent for {window}: SLO {slo.id} cannot be "
        f"judged and its burn-rate alerts stay silent. Is {slo.served_by} running and "
        "scraped?"
    )
    return _annotations(slo, description, f"{slo.id}: no data for {window}")


def no_data_alerts(slo: AlertSlo, spec: AlertSpec) -> tuple[AlertingRule, ...]:
    return (
        AlertingRule(
            alert=ALERT_NO_DATA,
            expr=no_data_expr(slo, spec),
            labels=((LABEL_SEVERITY, SEVERITY_TICKET), (LABEL_SLO, slo.id)),
            annotations=no_data_annotations(slo, spec),
        ),
    )
