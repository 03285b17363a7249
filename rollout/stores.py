"""What each store outage cost: drift while offline, reconciliation, oversell after it."""

from __future__ import annotations

from collectors.drift import DriftReport
from collectors.rundir import RunDir
from collectors.storewatch import StoreOutage, outages, read_polls
from collectors.timeline import RunTimeline, run_timeline
from slo.conventions import STORE_OFFLINE
from slo.runfiles import RECONCILE_FILE, STORES_FILE

__all__ = ["check_stores", "outage_lines"]


def check_stores(run: RunDir, timeline: RunTimeline | None = None) -> list[StoreOutage] | None:
    """The run's store outages (written to ``reconcile.json``); None if no store was watched
    (no ``stores.jsonl``, or not one poll in it).

    The ``store-offline`` windows are the ``timeline``'s (read from the run when not
    given), so they come from the chaos journals when ``events.jsonl`` lost them.
    """
    polls = read_polls(run) if run.file(STORES_FILE).exists() else []
    if not polls:
        return None
    spans = (timeline if timeline is not None else run_timeline(run)).spans
    found = outages(spans, polls)
    run.write_json(RECONCILE_FILE, {"outages": [outage.to_dict() for outage in found]})
    return found


def outage_lines(
    outages: list[StoreOutage], drift: DriftReport | None, origin: float | None
) -> list[str]:
    """One verdict line per store outage, times in seconds after ``origin`` (load start)."""
    blamed = dict(drift.violations_by_fault.get(STORE_OFFLINE, {})) if drift else {}
    lines = []
    for outage in outages:
        at = origin if origin is not None else outage.started
        window = f"{outage.started - at:.1f}s"
        window += f"\N{EN DASH}{outage.stopped - at:.1f}s" if outage.stopped is not None else ""
        seconds = outage.reconcile_s
        reconciled = (
            f"reconciled {seconds * 1000:.0f} ms after the link came back"
            if seconds is not None
            else "NOT reconciled by the end of the run"
        )
        lines.append(
            f"store outage {window}: up to {outage.peak_pending_units} units sold offline and "
            f"not yet in the source of truth; {reconciled}"
        )
    if outages and drift is not None:
        lines.append(
            f"store outages: {blamed.get('truth_outside_interval', 0)} truth and "
            f"{blamed.get('view_outside_interval', 0)} view observations outside the interval "
            f"during them; after reconciliation {drift.oversell_units} units oversold in the "
            f"run, {drift.violations_by_kind.get('negative_stock', 0)} truth readings below zero"
        )
    return lines
