"""Run the stock-drift checker on a run directory and summarise what it found."""

from __future__ import annotations

from collectors.drift import (
    DriftConfig,
    DriftReport,
    check_run,
)
from collectors.rundir import RunDir
from slo.plan import Plan
from slo.runfiles import DRIFT_FILE, LEDGER_FILE, STOCK_FILE
from slo.target import channel_locations

__all__ = ["check_drift", "drift_summary"]


def check_drift(run: RunDir, plan: Plan) -> DriftReport | None:
    """Check the run's history and write ``drift.json``; None when nothing was recorded."""
    if not (run.file(LEDGER_FILE).exists() or run.file(STOCK_FILE).exists()):
        return None
    config = DriftConfig(
        view_staleness_s=plan.target.probes.view_staleness_s,
        channel_locations=channel_locations(plan.target),
        # The plan's one notion of "after a fault": what the system does while it
        # catches up (a store forwarding what it sold offline) still belongs to the fault.
        fault_recovery_s=plan.slos.recovery_allowance_s,
    )
    report = check_run(run.path, config)
    run.write_json(DRIFT_FILE, report.to_dict())
    return report


def drift_summary(report: DriftReport) -> str:
    """One line for people: the headline figures of the drift check."""
    lower, upper = report.lag_p99_s, report.lag_p99_upper_s  # probes only bracket the lag
    lag_text = "n/a"
    if lower is not None and upper is not None:
        lag_text = f"{lower * 1000:.0f}\u2013{upper * 1000:.0f} ms"
    faults = sorted(f for f in report.violations_by_fault if f != "none")
    during = f"; violations during faults: {', '.join(faults)}" if faults else ""
    return (
        f"stock drift: {report.oversell_units} units oversold, "
        f"{report.truth_outside_interval}/{report.truth_observations} truth and "
        f"{report.views_outside_interval}/{report.view_observations} view observations outside "
        f"the interval, {report.undersell_false_sold_out} false sold-outs in "
        f"{report.place_invokes} orders, convergence p99 {lag_text}, "
        f"{report.never_converged} never converged, {report.unknown_ops} unknown outcomes "
        f"({_resolved(report)} resolved afterwards)"
        f"{during}"
    )


def _resolved(report: DriftReport) -> int:
    """Unknown outcomes the OMS answered for at the end of the run."""
    return sum(c.get("resolved_ok", 0) + c.get("resolved_fail", 0) for c in report.unknown.values())
