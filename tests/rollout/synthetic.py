"""One small but complete run directory, written by the real writers, that passes the gate.

Ten seconds of load from t=1000 (Unix seconds): latency and load records, a timeline
with a store-offline fault from 1003 to 1006 (and its chaos journal), order operations
and stock observations (one truth reading off the interval during the outage,
tolerated by the plan), the store's outbox polls, and the local platform handle.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaos.handle import write_handle
from collectors.latency import IntervalRecorder
from collectors.rundir import RunDir
from slo.loader import load_plan_text
from slo.plan import Plan, plan_snapshot
from slo.runfiles import (
    CHAOS_HANDLE_FILE,
    EVENTS_FILE,
    LATENCY_FILE,
    LEDGER_FILE,
    LOAD_FILE,
    STOCK_FILE,
    STORES_FILE,
    chaos_journal,
)

__all__ = ["JOURNAL", "PLAN", "T0", "write_journal", "write_run"]

T0 = 1000.0
JOURNAL = chaos_journal(1, "store-offline")

PLAN = """
apiVersion: peakops/v1
target: {kind: embedded, stores: 1}
load: {duration: 10s, profile: constant, baseline: 600}
slos:
  minSamples: 20
  recoveryAllowance: 1s
  objectives:
    - {id: place-p99, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms,
       during: steady}
    - {id: errors, kind: error_ratio, max: 0.05}
    - {id: throughput, kind: throughput, endpoint: POST /orders, minRatio: 0.9}
    - {id: no-oversell, kind: oversell, max: 0}
    - {id: no-drift, kind: drift_outside_interval, max: 0, tolerate: [store-offline]}
    - {id: store-reconciles, kind: store_reconcile, threshold: 5s}
chaos:
  - {experiment: store-offline, offset: 3s, duration: 3s}
"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def write_run(root: Path, name: str = "run", *, plan_text: str = PLAN) -> tuple[RunDir, Plan]:
    """Write the run directory ``root/name``; returns it with its plan."""
    plan = load_plan_text(plan_text, "synthetic.yaml")
    run = RunDir.create(root, name, plan=plan_snapshot(plan), git_sha="0" * 40)
    _latency_and_load(run)
    _events(run)
    _history(run)
    with run.appender(STORES_FILE) as polls:
        for t, pending, units, drained in (
            (1002.0, 0, 0, None), (1004.0, 2, 2, None), (1005.5, 2, 3, None),
            (1006.3, 0, 0, 1006.2), (1008.0, 0, 0, 1006.2),
        ):  # fmt: skip
            polls.append({"t": t, "store": "store-1", "online": not pending, "pending": pending,
                          "pending_units": units, "forwarded_total": 0,
                          "last_drained_at": drained})  # fmt: skip
        polls.append({"t": 1009.0, "store": "store-1", "error": "ConnectError: refused"})
    write_journal(run)
    write_handle(
        run.file(CHAOS_HANDLE_FILE), base_url="http://127.0.0.1:9",
        fault_proxies={"store-1-inventory": "http://127.0.0.1:9"}, replicas=[],
    )  # fmt: skip
    run.finish("completed")
    return run, plan


def _latency_and_load(run: RunDir) -> None:
    clock = Clock()
    with run.appender(LATENCY_FILE) as out, run.appender(LOAD_FILE) as load:
        recorder = IntervalRecorder(out.append, clock=clock, source="load")
        n = 0
        for second in range(10):
            for i in range(10):
                clock.now = T0 + second + i / 10
                n += 1
                recorder.record("POST /orders", 0.020 + i / 1000, ok=n % 50 != 0)
                recorder.record("GET /stock/{sku}", 0.005, ok=True)
            load.append({
                "t": T0 + second, "interval_s": 1.0, "source": "load",
                "arrivals_planned": 10, "arrivals_sent": 10, "arrivals_dropped": 0,
                "orders_confirmed": 10, "active_max": 1, "cpu_percent": 20.0,
                "planned": {"POST /orders": 10, "GET /stock/{sku}": 10},
            })  # fmt: skip
        recorder.flush(final=True)


def _events(run: RunDir) -> None:
    fault = {"fault": "store-offline", "id": "store-offline-1", "experiment": "store-offline"}
    with run.appender(EVENTS_FILE) as events:
        for ts, kind, fields in (
            (999.0, "rehearsal_started", {"plan": "synthetic", "run_id": run.run_id}),
            (T0, "load_started", {"mode": "open", "profile": "constant"}),
            (1000.5, "probes_started", {"hot_skus": 1, "period_s": 1.0}),
            (1002.9, "chaos_started", {"experiment": "store-offline", "index": 1,
                                       "offset_s": 3.0, "duration_s": 3.0, "pid": 4242}),
            (1003.0, "fault_started", {**fault, "expires_ts": 1011.0}),
            (1006.0, "fault_stopped", fault),
            (1006.5, "chaos_finished", {"experiment": "store-offline", "index": 1,
                                        "exit_code": 0}),
            (1010.0, "load_finished", {"interrupted": False}),
            (1010.1, "unknown_resolved", {"unknown": 0, "resolved": 0, "unanswered": 0}),
            (1010.2, "probes_finished", {"probe_reads": 8, "probe_errors": 0}),
        ):  # fmt: skip
            events.append({"ts": ts, "type": kind, "source": "rehearsal", **fields})


def _history(run: RunDir) -> None:
    """Orders and stock of SKU A at L1 (5 units): two sold; the truth reads one low while
    the store is offline (tolerated), and right again after."""

    def place(op: str, t: float, phase: str) -> dict[str, Any]:
        return {"op": op, "type": "place", "key": f"key-{op}", "sku": "A", "qty": 1,
                "channel": "web", "source": "load", "t": t, "phase": phase,
                "order_id": f"order-{op}" if phase == "ok" else None, "location": "L1"}  # fmt: skip

    def stock(t: float, kind: str, available: int, **extra: Any) -> dict[str, Any]:
        return {"t": t, "t0": t - 0.01, "kind": kind, "sku": "A", "location": "L1",
                "channel": "web" if kind == "view" else None, "available": available,
                "on_hand": None, "reserved": None, "committed": None, "phase": "run",
                "source": "probe", **extra}  # fmt: skip

    with run.appender(LEDGER_FILE) as ledger:
        for record in (place("p1", 1001.0, "invoke"), place("p1", 1001.1, "ok"),
                       place("p2", 1007.0, "invoke"), place("p2", 1007.1, "ok")):  # fmt: skip
            ledger.append(record)
    with run.appender(STOCK_FILE) as observations:
        for record in (
            stock(999.5, "truth", 5, phase="start"), stock(1002.0, "truth", 4),
            stock(1002.5, "view", 4), stock(1004.0, "truth", 3), stock(1008.0, "truth", 3),
            stock(1009.0, "view", 3),
        ):  # fmt: skip
            observations.append(record)


def write_journal(run: RunDir, **changes: Any) -> None:
    """The store-offline step's Chaos Toolkit journal (as chaos/runner.py writes it)."""

    def activity(name: str, start: float, end: float, output: dict[str, Any]) -> dict[str, Any]:
        return {"activity": {"type": "action", "name": name}, "status": "succeeded",
                "start": iso(start), "end": iso(end), "duration": end - start,
                "output": output}  # fmt: skip

    started = {"event": "fault_started", "fault": "store-offline", "id": "store-offline-1",
               "dry_run": False, "duration_s": 3.0, "lease_s": 5.0,
               "expires_ts": 1011.0}  # fmt: skip
    stopped = {"event": "fault_stopped", "fault": "store-offline", "dry_run": False}
    journal = {
        "chaoslib-version": "1.44.0", "status": "completed", "deviated": False,
        "start": iso(1002.9), "end": iso(1006.4),
        "steady_states": {"before": {"steady_state_met": True, "probes": []}},
        "run": [
            activity("start-store-offline", 1002.95, 1003.0, started),
            activity("heal-store-offline", 1005.98, 1006.0, stopped),
        ],
        "rollbacks": [
            activity("heal-store-offline", 1006.2, 1006.3, {**stopped, "removed": False}),
        ],
        **changes,
    }  # fmt: skip
    run.file(JOURNAL).write_text(json.dumps(journal, indent=2) + "\n")
