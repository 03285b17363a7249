"""The rule file of a plan: an ordered chain of small generators, one group per SLO.

Each generator takes one SLO and the spec and returns rules; the chain's order is the
order of rules in the group, so that each rule reads the samples its predecessors
wrote in the same evaluation (SLIs, then the period SLI, meta rules, alerts).
"""

from __future__ import annotations

from collections.abc import Callable

from alerts.alert_rules import burn_alerts, no_data_alerts
from alerts.durations import format_window
from alerts.meta_rules import meta_rules
from alerts.model import AlertSlo, AlertSpec, RatioSli, Rule, RuleFile, RuleGroup
from alerts.sli_rules import period_sli_rules, window_sli_rules
from alerts.window_sets import number

__all__ = ["GENERATORS", "Generator", "build_rules", "group_name", "rule_notes"]

Generator = Callable[[AlertSlo, AlertSpec], tuple[Rule, ...]]

GENERATORS: tuple[Generator, ...] = (
    window_sli_rules,
    period_sli_rules,
    meta_rules,
    burn_alerts,
    no_data_alerts,
)
"""The chain, in rule order."""


def group_name(slo: AlertSlo) -> str:
    return f"peakops-slo-{slo.id}"


def build_rules(spec: AlertSpec, generators: tuple[Generator, ...] = GENERATORS) -> RuleFile:
    """One group per SLO (sorted by id), its rules in chain order."""
    interval = spec.windows.evaluation_interval
    groups = tuple(
        RuleGroup(
            name=group_name(slo),
            rules=tuple(rule for generate in generators for rule in generate(slo, spec)),
            interval=format_window(interval) if interval is not None else None,
        )
        for slo in sorted(spec.slos, key=lambda s: s.id)
    )
    return RuleFile(groups=groups, notes=rule_notes(spec))


def rule_notes(spec: AlertSpec) -> tuple[str, ...]:
    """The header of the generated files: window set, skipped SLOs, alerts that can
    never fire (a factor x budget share of 100 % or more)."""
    windows = spec.windows
    factors = ", ".join(
        f"{p.severity} {p.speed} {number(p.factor)}x over {p.long}/{p.short}" for p in windows.pairs
    )
    notes = [
        f"plan {spec.plan_name}: window set {spec.window_set_name} "
        f"(period {format_window(windows.period)}; {factors})",
    ]
    if spec.min_events is not None:
        guard = f"event-ratio alerts need {spec.min_events} events in the long window"
        notes.append(f"low-traffic guard: {guard}")
    for skipped in sorted(spec.skipped, key=lambda s: s.id):
        notes.append(f"skipped {skipped.id} ({skipped.kind}): {skipped.reason}")
    for slo in sorted(spec.slos, key=lambda s: s.id):
        for pair in windows.pairs:
            if _never_fires(slo, pair.factor):
                notes.append(
                    f"{slo.id}: {pair.severity} {pair.speed} can never fire: "
                    f"{number(pair.factor)} x {number(slo.budget)} >= 1 (an error ratio "
                    "cannot exceed 100 %)"
                )
    return tuple(notes)


def _never_fires(slo: AlertSlo, factor: float) -> bool:
    return isinstance(slo.sli, RatioSli) and factor * slo.budget >= 1
