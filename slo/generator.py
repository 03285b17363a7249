"""Was the load generator trustworthy? A run it could not drive is inconclusive.

A saturated generator sends less than planned and delays its own requests, so the
latency it reports is partly its own. Like k6's dropped iterations and Locust's CPU
warning, but judged: the run is inconclusive (never a silent pass, never a false
fail) when the generator used more CPU than the plan allows over any 5 s window, or
sent fewer of the planned arrivals than the plan requires.
"""

from __future__ import annotations

from slo.evaluate import Evaluation, Status
from slo.objectives import Slos
from slo.stats import GeneratorStats

__all__ = ["GENERATOR_CHECK_ID", "check_generator"]

GENERATOR_CHECK_ID = "load-generator"


def check_generator(generator: GeneratorStats | None, policy: Slos) -> Evaluation | None:
    """An evaluation of the generator's health, or None when nothing was recorded."""
    if generator is None:
        return None
    planned = generator.arrivals_planned
    sent_ratio = generator.arrivals_sent / planned if planned > 0 else 1.0
    problems = []
    if generator.busiest_cpu_percent > policy.generator_max_cpu:
        problems.append(
            f"load process {generator.busiest_source} used "
            f"{generator.busiest_cpu_percent:.0f}% CPU over {generator.cpu_window_s:g} s "
            f"(limit {policy.generator_max_cpu:g}%)"
        )
    if sent_ratio < policy.generator_min_sent_ratio:
        problems.append(
            f"sent {generator.arrivals_sent} of {planned:.0f} planned arrivals "
            f"({sent_ratio:.1%}, need {policy.generator_min_sent_ratio:.0%}; "
            f"{generator.arrivals_dropped} dropped)"
        )
    status = Status.INCONCLUSIVE if problems else Status.PASS
    reason = (
        "the load generator saturated: " + "; ".join(problems)
        if problems
        else f"sent {generator.arrivals_sent} of {planned:.0f} planned arrivals, "
        f"busiest load process at {generator.busiest_cpu_percent:.0f}% CPU"
    )
    return Evaluation(
        slo_id=GENERATOR_CHECK_ID,
        kind="load_generator",
        endpoint="*",
        status=status,
        observed=round(sent_ratio, 4),
        threshold=policy.generator_min_sent_ratio,
        unit="ratio",
        samples=generator.arrivals_sent,
        reason=reason,
    )
