"""The stock-drift checker on tiny hand-written histories: one behaviour per case."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from collectors.drift import (
    DriftChecker,
    DriftConfig,
    DriftReport,
    check_run,
)
from collectors.drift.stream import Source, merge_by_time
from slo.errors import RunDirError
from slo.evaluate import Evaluation, Status, evaluate
from slo.objectives import DriftObjective, Objective
from slo.runfiles import DRIFT_FILE, EVENTS_FILE, LEDGER_FILE, STOCK_FILE
from slo.stats import DriftStats, RunStats

Record = dict[str, Any]


class History:
    """A run history written the way the ledger, the probes and the timeline write it."""

    def __init__(self, **stock: int) -> None:
        self.streams: dict[str, list[Record]] = {"ledger": [], "stock": [], "events": []}
        for cell, available in stock.items():  # A_L1=5: SKU A at location L1
            sku, location = cell.split("_")
            self.truth(-1.0, available, sku=sku, loc=location, phase="start")

    def place(
        self, op: str, invoke: float, done: float | None = None, outcome: str = "ok", *,
        sku: str = "A", loc: str | None = "L1", at: str | None = None, qty: int = 1,
        key: str | None = None, order: str | None = None, reason: str | None = None,
    ) -> History:  # fmt: skip
        """A place: invoke, then (unless ``done`` is None) its completion."""
        base = {"op": op, "type": "place", "key": key or f"key-{op}", "sku": sku, "qty": qty,
                "channel": "web", "source": "load-0"}  # fmt: skip
        self._ledger({**base, "t": invoke, "phase": "invoke", "order_id": None, "location": loc})
        if done is not None:
            ok = outcome == "ok"
            order_id = (order or f"order-{op}") if ok else None
            where = (at or loc) if ok else loc
            self._ledger({**base, "t": done, "phase": outcome, "order_id": order_id,
                          "location": where, "reason": reason})  # fmt: skip
        return self

    def cancel(
        self, op: str, invoke: float, done: float | None, outcome: str = "ok", *,
        order: str, sku: str = "A", loc: str = "L1", qty: int = 1,
    ) -> History:  # fmt: skip
        base = {"op": op, "type": "cancel", "key": f"key-{order}", "order_id": order, "sku": sku,
                "qty": qty, "location": loc, "channel": "web", "source": "load-0"}  # fmt: skip
        self._ledger({**base, "t": invoke, "phase": "invoke"})
        if done is not None:
            self._ledger({**base, "t": done, "phase": outcome})
        return self

    def resolve(self, op: str, t: float, outcome: str, *, loc: str | None = "L1",
                order: str | None = None, sku: str = "A", qty: int = 1) -> History:  # fmt: skip
        order_id = order or (f"order-{op}" if outcome == "ok" else None)
        self._ledger({"op": op, "type": "place", "key": f"key-{op}", "sku": sku, "qty": qty,
                      "t": t, "phase": outcome, "resolved": True, "location": loc,
                      "order_id": order_id})  # fmt: skip
        return self

    def truth(self, t: float, available: int, *, sku: str = "A", loc: str = "L1",
              t0: float | None = None, phase: str = "run", on_hand: int | None = None,
              reserved: int | None = None, committed: int | None = None) -> History:  # fmt: skip
        self.streams["stock"].append(
            {"t": t, "t0": t - 0.01 if t0 is None else t0, "kind": "truth", "sku": sku,
             "location": loc, "channel": None, "available": available, "on_hand": on_hand,
             "reserved": reserved, "committed": committed, "phase": phase, "source": "probe"}
        )  # fmt: skip
        return self

    def view(self, t: float, available: int, *, channel: str = "web", sku: str = "A",
             loc: str = "L1", t0: float | None = None) -> History:  # fmt: skip
        self.streams["stock"].append(
            {"t": t, "t0": t - 0.01 if t0 is None else t0, "kind": "view", "sku": sku,
             "location": loc, "channel": channel, "available": available, "on_hand": None,
             "reserved": None, "committed": None, "phase": "run", "source": "probe"}
        )  # fmt: skip
        return self

    def fault(self, start: float, stop: float | None, name: str, fault_id: str = "f1", *,
              expires: float | None = None) -> History:  # fmt: skip
        """A fault window; ``stop`` None: never stopped; ``expires``: its lease expiry."""
        started: Record = {"ts": start, "type": "fault_started", "fault": name, "id": fault_id}
        if expires is not None:
            started["expires_ts"] = expires
        events = self.streams["events"]
        events.append(started)
        if stop is not None:
            events.append({"ts": stop, "type": "fault_stopped", "id": fault_id})
        return self

    def _ledger(self, record: Record) -> None:
        self.streams["ledger"].append({k: v for k, v in record.items() if v is not None or k in
                                       ("order_id", "location")})  # fmt: skip

    def check(self, config: DriftConfig = DriftConfig()) -> DriftReport:  # noqa: B008
        """Feed the history in time order, as ``check_run`` would."""
        checker = DriftChecker(config)
        for entry in merge_by_time(self.sources(), config.reorder_window_s):
            checker.feed(entry[3], entry[4])
        return checker.report()

    def sources(self) -> list[Source]:
        return [
            Source.lines(stream, stream, [json.dumps(r) + "\n" for r in records])
            for stream, records in self.streams.items()
        ]

    def write(self, run: Path) -> Path:
        names = {"ledger": LEDGER_FILE, "stock": STOCK_FILE, "events": EVENTS_FILE}
        for stream, records in self.streams.items():
            (run / names[stream]).write_text("".join(json.dumps(r) + "\n" for r in records))
        return run


def clean() -> History:
    return (
        History(A_L1=5)
        .place("p1", 1.0, 1.1)
        .truth(2.0, 4)
        .view(4.0, 4)
        .cancel("c1", 5.0, 5.1, order="order-p1")
        .truth(6.0, 5)
    )


CASES: list[tuple[str, Callable[[], History], dict[str, Any]]] = [
    (
        "a clean history reports nothing at all",
        clean,
        {
            "oversell_units": 0,
            "truth_outside_interval": 0,
            "views_outside_interval": 0,
            "undersell_false_sold_out": 0,
            "conservation_violations": 0,
            "duplicates": 0,
            "unknown_ops": 0,
            "negative_stock_observations": 0,
            "violations_total": 0,
            "truth_observations": 3,
            "view_observations": 1,
            "place_invokes": 1,
        },
    ),
    (
        "two confirmations of the last unit oversell one unit",
        lambda: History(A_L1=1).place("p1", 1.0, 1.1).place("p2", 2.0, 2.1),
        {"oversell_units": 1, "violations_by_kind": {"oversell": 1}},
    ),
    (
        "a cancel's returned unit is not oversold when sold again",
        lambda: (
            History(A_L1=1)
            .place("p1", 1.0, 1.1)
            .cancel("c1", 2.0, 2.1, order="order-p1")
            .place("p2", 3.0, 3.1)
        ),
        {"oversell_units": 0},
    ),
    (
        "a cancel that failed returned nothing: the unit sold on it is oversold",
        lambda: (
            History(A_L1=1)
            .place("p1", 1.0, 1.1)
            .cancel("c1", 2.0, 4.0, "fail", order="order-p1")
            .place("p2", 3.0, 3.1)
        ),
        {"oversell_units": 1},
    ),
    (
        "an unknown place lets the truth show it applied",
        lambda: History(A_L1=5).place("p1", 1.0, 2.0, "info", reason="timeout").truth(3.0, 4),
        {"truth_outside_interval": 0, "unknown_ops": 1},
    ),
    (
        "an unknown place lets the truth show it did not apply",
        lambda: History(A_L1=5).place("p1", 1.0, 2.0, "info", reason="timeout").truth(3.0, 5),
        {"truth_outside_interval": 0, "unknown_ops": 1},
    ),
    (
        "an unknown place widens by its quantity only",
        lambda: History(A_L1=5).place("p1", 1.0, 2.0, "info").truth(3.0, 3),
        {"truth_outside_interval": 1, "truth_drift_min": -1},
    ),
    (
        "an unknown place with no location may have hit any location",
        lambda: (
            History(A_L1=5, A_L2=5)
            .place("p1", 1.0, 2.0, "info", loc=None)
            .truth(3.0, 4, loc="L1")
            .truth(3.0, 4, loc="L2")
        ),
        {"truth_outside_interval": 0},
    ),
    (
        "a truth lower than the interval is negative drift, counted",
        lambda: History(A_L1=5).truth(2.0, 3),
        {"truth_outside_interval": 1, "truth_drift_min": -2, "truth_drift_max_abs": 2},
    ),
    (
        "a truth higher than the interval is positive drift, counted",
        lambda: History(A_L1=5).place("p1", 1.0, 1.1).truth(2.0, 7),
        {"truth_outside_interval": 1, "truth_drift_max": 3},
    ),
    (
        "an order acknowledged while the truth was read may or may not show",
        lambda: History(A_L1=5).place("p1", 1.0, 2.0).truth(2.05, 5, t0=1.95),
        {"truth_outside_interval": 0},
    ),
    (
        "an order in flight that then failed cannot explain a lower truth",
        lambda: (
            History(A_L1=5).place("p1", 1.0, 3.0, "fail", reason="payment declined").truth(2.0, 4)
        ),
        {"truth_outside_interval": 1},
    ),
    (
        "an order in flight that then succeeded can",
        lambda: History(A_L1=5).place("p1", 1.0, 3.0).truth(2.0, 4),
        {"truth_outside_interval": 0},
    ),
    (
        "a view lagging within its staleness allowance is not drift",
        lambda: History(A_L1=5).place("p1", 9.9, 10.0).view(11.01, 5, t0=11.0),
        {"views_outside_interval": 0},
    ),
    (
        "a view lagging beyond its allowance is counted for its channel",
        lambda: History(A_L1=5).place("p1", 9.9, 10.0).view(13.01, 5, t0=13.0, channel="app"),
        {
            "views_outside_interval": 1,
            "channels.app.outside_interval": 1,
            "channels.app.max_abs_drift": 1,
        },
    ),
    (
        "a sold-out answer while stock remained is a false sold-out",
        lambda: History(A_L1=5).place("p1", 1.0, 1.1, "fail", reason="out_of_stock"),
        {"undersell_false_sold_out": 1, "undersell_ratio": 1.0, "sold_out_answers": 1},
    ),
    (
        "a sold-out answer when nothing was left is true",
        lambda: History(A_L1=0).place("p1", 1.0, 1.1, "fail", reason="out_of_stock"),
        {"undersell_false_sold_out": 0, "sold_out_answers": 1},
    ),
    (
        "a unit returned within the view staleness allowance may not show yet: true sold-out",
        lambda: (
            History(A_L1=1)
            .place("p1", 1.0, 1.1, order="o1")
            .cancel("c1", 5.0, 5.1, order="o1")
            .place("p2", 6.0, 6.1, "fail", reason="out_of_stock")
        ),
        {"undersell_false_sold_out": 0, "sold_out_answers": 1},
    ),
    (
        "a unit returned longer ago than the staleness allowance is a false sold-out",
        lambda: (
            History(A_L1=1)
            .place("p1", 1.0, 1.1, order="o1")
            .cancel("c1", 5.0, 5.1, order="o1")
            .place("p2", 8.0, 8.1, "fail", reason="out_of_stock")
        ),
        {"undersell_false_sold_out": 1, "sold_out_answers": 1},
    ),
    (
        "a concurrent order that took the last unit excuses a sold-out answer",
        lambda: (
            History(A_L1=1)
            .place("p1", 1.0, 1.3, "fail", reason="out_of_stock")
            .place("p2", 1.1, 1.2)
        ),
        {"undersell_false_sold_out": 0},
    ),
    (
        "a location-less order refused while another location had stock is a false sold-out",
        lambda: History(A_L1=0, A_L2=3).place(
            "p1", 1.0, 1.1, "fail", loc=None, reason="out_of_stock"
        ),
        {"undersell_false_sold_out": 1},
    ),
    (
        "on hand not equal to available plus reserved plus committed breaks conservation",
        lambda: History(A_L1=5).truth(1.0, 5, on_hand=10, reserved=2, committed=2),
        {"conservation_violations": 1, "conservation_checked": 1},
    ),
    (
        "a negative truth is negative stock",
        lambda: History(A_L1=0).place("p1", 1.0, 1.1).truth(2.0, -1),
        {"negative_stock_observations": 1, "oversell_units": 1, "truth_outside_interval": 0},
    ),
    (
        "a key applied under two order ids is a duplicate, and both units are real",
        lambda: (
            History(A_L1=5)
            .place("p1", 1.0, 1.1, key="k")
            .place("p2", 2.0, 2.1, key="k")
            .truth(3.0, 3)
        ),
        {"duplicates": 1, "duplicate_applications": 1, "truth_outside_interval": 0},
    ),
    (
        "a retry answered with the same order id is an idempotent replay",
        lambda: (
            History(A_L1=5)
            .place("p1", 1.0, 1.1, key="k", order="o1")
            .place("p2", 2.0, 2.1, key="k", order="o1")
            .truth(3.0, 4)
        ),
        {"duplicates": 0, "truth_outside_interval": 0},
    ),
    (
        "a replay that the OMS applied twice shows as truth drift",
        lambda: (
            History(A_L1=5)
            .place("p1", 1.0, 1.1, key="k", order="o1")
            .place("p2", 2.0, 2.1, key="k", order="o1")
            .truth(3.0, 3)
        ),
        {"duplicates": 0, "truth_outside_interval": 1},
    ),
    (
        "an unknown outcome resolved at the end is counted as resolved",
        lambda: History(A_L1=5).place("p1", 1.0, 2.0, "info").resolve("p1", 50.0, "ok"),
        {"unknown_ops": 1, "unknown.place.info": 1, "unknown.place.resolved_ok": 1},
    ),
    (
        "an operation never completed is unknown",
        lambda: History(A_L1=5).place("p1", 1.0).truth(2.0, 4),
        {"unknown_ops": 1, "unknown.place.never_completed": 1, "truth_outside_interval": 0},
    ),
    (
        "a violation inside a fault window names the fault; after its recovery, none",
        lambda: History(A_L1=5).fault(5.0, 7.0, "kill-replica").truth(6.0, 3).truth(9.5, 3),
        {
            "violations_by_fault": {
                "kill-replica": {"truth_outside_interval": 1},
                "none": {"truth_outside_interval": 1},
            }
        },
    ),
    (
        "a violation within the 2 s recovery after a fault is still blamed on it",
        lambda: History(A_L1=5).fault(5.0, 7.0, "store-offline").truth(8.5, 3),
        {"violations_by_fault": {"store-offline": {"truth_outside_interval": 1}}},
    ),
    (
        "faults blamed together are counted as one set",
        lambda: (
            History(A_L1=5)
            .fault(5.0, 9.0, "store-offline")
            .fault(6.0, 7.0, "network-cut", "f2")
            .truth(6.5, 3)
            .truth(10.0, 3)
        ),
        {
            "violations_by_fault_set": {
                "network-cut+store-offline": {"truth_outside_interval": 1},
                "store-offline": {"truth_outside_interval": 1},
            }
        },
    ),
    (
        "a fault never stopped, without a lease expiry, lasts to the end",
        lambda: History(A_L1=5).fault(5.0, None, "network-delay").truth(90.0, 3),
        {"violations_by_fault": {"network-delay": {"truth_outside_interval": 1}}},
    ),
    (
        "a fault never stopped ends at its lease expiry, then recovers for 2 s",
        lambda: (
            History(A_L1=5)
            .fault(5.0, None, "network-delay", expires=10.0)
            .truth(10.0, 3)
            .truth(11.9, 3)
            .truth(12.1, 3)
            .truth(90.0, 3)
        ),
        {
            "violations_by_fault": {
                "network-delay": {"truth_outside_interval": 2},
                "none": {"truth_outside_interval": 2},
            }
        },
    ),
    (
        "a fault stopped before its lease expiry ends at its stop",
        lambda: (
            History(A_L1=5)
            .fault(5.0, 6.0, "network-delay", expires=30.0)
            .truth(7.5, 3)
            .truth(9.0, 3)
        ),
        {
            "violations_by_fault": {
                "network-delay": {"truth_outside_interval": 1},
                "none": {"truth_outside_interval": 1},
            }
        },
    ),
    (
        "a stop recorded after the lease expiry does not extend the fault",
        lambda: History(A_L1=5).fault(5.0, 12.0, "network-delay", expires=10.0).truth(13.0, 3),
        {"violations_by_fault": {"none": {"truth_outside_interval": 1}}},
    ),
    (
        "convergence lag runs from the ack to between the last look without it and the first with",
        lambda: (
            History(A_L1=5).place("p1", 9.9, 10.0).view(10.35, 5, t0=10.3).view(10.7, 4, t0=10.65)
        ),
        {
            "lag_p50_s": 0.3,
            "lag_p99_s": 0.3,
            "lag_worst_s": 0.3,
            "lag_p50_upper_s": 0.7,
            "lag_p99_upper_s": 0.7,
            "lag_worst_upper_s": 0.7,
            "lag.p99_upper_s": 0.7,
            "channels.web.lag.p99_s": 0.3,
            "channels.web.lag.p99_upper_s": 0.7,
            "converged": 1,
            "never_converged": 0,
            "channels.web.lag.converged": 1,
        },
    ),
    (
        "a view first probed 30 s after the order is caught up but its lag is not timed",
        lambda: History(A_L1=5).place("p1", 9.9, 10.0).view(40.0, 4, t0=39.95),
        {"converged": 0, "lag.converged_untimed": 1, "lag_p99_s": None, "never_converged": 0},
    ),
    (
        "a view that never shows an acknowledged order has never converged",
        lambda: History(A_L1=5).place("p1", 9.9, 10.0).view(20.0, 5).view(30.0, 5),
        {"never_converged": 1, "converged": 0, "lag_p50_s": None},
    ),
    (
        "an order acknowledged after a channel's last look is not held against it",
        lambda: History(A_L1=5).view(5.0, 5).place("p1", 9.9, 10.0),
        {"never_converged": 0},
    ),
]


def lookup(report: DriftReport, dotted: str) -> Any:
    if dotted in ("undersell_ratio", "lag_p50_s", "lag_p99_s", "lag_worst_s", "converged",
                  "never_converged"):  # fmt: skip
        return getattr(report, dotted)
    value: Any = report.to_dict()
    for part in dotted.split("."):
        value = value[part]
    return value


@pytest.mark.parametrize(("history", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_checker_reports(history: Callable[[], History], expected: dict[str, Any]) -> None:
    report = history().check()
    for name, value in expected.items():
        got = lookup(report, name)
        if isinstance(value, dict) and name.startswith("violations_by"):
            got = {k: {kk: vv for kk, vv in v.items() if vv} if isinstance(v, dict) else v
                   for k, v in got.items() if v}  # fmt: skip
            if name == "violations_by_kind":
                got = {k: v for k, v in got.items() if v}
        assert got == value, f"{name}: {got!r} != {value!r}"


def test_a_violation_records_the_faults_active_and_the_bounds() -> None:
    report = History(A_L1=5).fault(5.0, 7.0, "kill-replica").truth(6.0, 3).check()
    (violation,) = report.violations
    assert violation.kind == "truth_outside_interval"
    assert (violation.sku, violation.location, violation.observed) == ("A", "L1", 3)
    assert (violation.expected_lo, violation.expected_hi) == (5, 5)
    assert violation.faults == ("kill-replica",)


def drift_slo(report: DriftReport, objective: Objective) -> Evaluation:
    stats = RunStats(endpoints={}, elapsed_s=60.0, drift=report.to_stats())
    (evaluation,) = evaluate([objective], stats, default_min_samples=1)
    return evaluation


def test_a_tolerated_fault_without_a_stop_excuses_drift_until_its_expiry_and_recovery() -> None:
    tolerant = DriftObjective(id="drift", tolerate=("network-delay",))
    during = History(A_L1=5).fault(5.0, None, "network-delay", expires=10.0)
    during.truth(6.0, 3).truth(10.0, 3).truth(11.9, 3)  # open, at expiry, recovering
    assert drift_slo(during.check(), tolerant).status is Status.PASS
    after = History(A_L1=5).fault(5.0, None, "network-delay", expires=10.0)
    after.truth(6.0, 3).truth(12.5, 3).truth(60.0, 3)  # past its expiry + 2 s recovery
    evaluation = drift_slo(after.check(), tolerant)
    assert evaluation.status is Status.FAIL
    assert "2 stock observations outside" in evaluation.reason


def test_a_tolerated_fault_without_a_stop_or_an_expiry_still_excuses_all_later_drift() -> None:
    tolerant = DriftObjective(id="drift", tolerate=("network-delay",))
    history = History(A_L1=5).fault(5.0, None, "network-delay").truth(6.0, 3).truth(600.0, 3)
    assert drift_slo(history.check(), tolerant).status is Status.PASS


def test_only_the_first_violations_are_kept_in_detail_but_all_are_counted() -> None:
    history = History(A_L1=5)
    for i in range(10):
        history.truth(1.0 + i, 0)
    report = history.check(DriftConfig(keep_violations=3))
    assert len(report.violations) == 3 and report.truth_outside_interval == 10
    assert report.violations_total == 10


def test_duplicate_examples_name_the_key_and_its_order_ids() -> None:
    report = (
        History(A_L1=5).place("p1", 1.0, 1.1, key="k", order="o1")
        .place("p2", 2.0, 2.1, key="k", order="o2").check()
    )  # fmt: skip
    (example,) = report.duplicate_examples
    assert example["key"] == "k" and example["order_ids"] == ["o1", "o2"]


def test_an_unknown_outcome_resolved_as_not_applied_stops_widening() -> None:
    report = (
        History(A_L1=5).place("p1", 1.0, 2.0, "info").resolve("p1", 3.0, "fail")
        .truth(4.0, 4).check()
    )  # fmt: skip
    assert report.truth_outside_interval == 1
    assert report.unknown["place"]["resolved_fail"] == 1


def test_the_report_is_plain_json_and_feeds_the_drift_slos() -> None:
    report = clean().check()
    data = json.loads(json.dumps(report.to_dict()))
    assert data["format_version"] == 1 and data["config"]["view_staleness_s"] == 2.0
    assert {"oversell_units", "undersell_ratio", "lag_p99_s", "violations_by_fault"} <= set(data)
    stats = report.to_stats()
    assert isinstance(stats, DriftStats) and stats.truth_observations == 3
    assert set(stats.lag_s) == {50, 95, 99, 100}


def test_the_checker_refuses_records_after_its_report() -> None:
    checker = DriftChecker()
    checker.report()
    with pytest.raises(RuntimeError, match="already reported"):
        checker.feed("ledger", {})


def test_an_unknown_stream_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown stream 'orders'"):
        DriftChecker().feed("orders", {})


# -- check_run: the files of a run directory ----------------------------------------------


def test_check_run_reads_the_three_files_of_a_run(tmp_path: Path) -> None:
    history = clean()
    report = check_run(history.write(tmp_path))
    assert report.to_dict() == history.check().to_dict()
    assert report.records == {"ledger": 4, "stock": 4, "events": 0}
    assert DRIFT_FILE == "drift.json"


def test_a_run_without_history_files_is_empty(tmp_path: Path) -> None:
    report = check_run(tmp_path)
    assert report.truth_observations == 0 and report.place_invokes == 0
    assert report.lag_p50_s is None and report.undersell_ratio == 0.0


def test_a_record_later_than_the_reorder_window_names_file_and_line(tmp_path: Path) -> None:
    lines = [{"t": 100.0, "op": "p1", "type": "place", "phase": "invoke", "key": "k1",
              "sku": "A", "qty": 1, "location": "L1"},
             {"t": 80.0, "op": "p2", "type": "place", "phase": "invoke", "key": "k2",
              "sku": "A", "qty": 1, "location": "L1"}]  # fmt: skip
    (tmp_path / LEDGER_FILE).write_text("".join(json.dumps(r) + "\n" for r in lines))
    with pytest.raises(RunDirError, match=r"ledger\.jsonl:2: record at t=80.0 is 20.000 s older"):
        check_run(tmp_path)


def test_records_out_of_order_within_the_window_are_put_in_order(tmp_path: Path) -> None:
    history = History(A_L1=5).place("p1", 1.0, 1.1).truth(2.0, 4)
    history.streams["ledger"].reverse()  # the ok before the invoke, 0.1 s apart
    assert check_run(history.write(tmp_path)).truth_outside_interval == 0


def test_a_corrupt_line_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / STOCK_FILE).write_text('{"t": 1.0}\nnot json\n{"t": 2.0}\n')
    with pytest.raises(RunDirError, match=r"stock\.jsonl:2: corrupt record"):
        check_run(tmp_path)


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    history = clean().write(tmp_path)
    with (history / LEDGER_FILE).open("a") as fh:
        fh.write('{"t": 9.0, "op": "p9", "ty')
    assert check_run(tmp_path).place_invokes == 1


def test_a_record_missing_a_field_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / LEDGER_FILE).write_text('{"t": 1.0, "phase": "invoke", "op": "p1"}\n')
    with pytest.raises(RunDirError, match=r"ledger\.jsonl:1: bad ledger record: missing field"):
        check_run(tmp_path)


def test_a_record_without_its_time_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / EVENTS_FILE).write_text('{"ts": 1.0, "type": "a"}\n{"type": "b"}\n')
    with pytest.raises(RunDirError, match=r"events\.jsonl:2: missing or non-numeric time"):
        check_run(tmp_path)


def test_merging_puts_events_then_stock_then_ledger_at_equal_times() -> None:
    sources = [
        Source.lines("ledger", "ledger", ['{"t": 1.0, "n": 1}\n']),
        Source.lines("stock", "stock", ['{"t": 1.0, "n": 2}\n']),
        Source.lines("events", "events", ['{"ts": 1.0, "n": 3}\n', '{"ts": 0.5, "n": 4}\n']),
    ]
    order = [(entry[3], entry[4]["n"]) for entry in merge_by_time(sources, 10.0)]
    assert order == [("events", 4), ("events", 3), ("stock", 2), ("ledger", 1)]


# -- convergence at the edges: views between change points, history overflow -------------


def test_a_view_showing_an_order_not_yet_acknowledged_still_converges_the_earlier_one() -> None:
    report = (
        History(A_L1=5).place("p1", 10.0, 10.5).place("p2", 10.2, 11.0)
        .view(10.65, 3, t0=10.6).check()
    )  # fmt: skip
    assert report.converged == 1 and report.lag.worst_upper_s == 0.15
    assert report.lag_worst_s == 0.0  # no earlier look: it may have caught up at once


def test_acknowledgements_beyond_the_history_are_caught_up_untimed_not_lost() -> None:
    history = History(A_L1=100).view(1.0, 100)
    for i in range(12):
        history.place(f"p{i}", 20.0 * (i + 1) - 0.1, 20.0 * (i + 1))
    report = history.view(300.0, 88).check(DriftConfig(history_points=2))
    assert report.never_converged == 0
    assert report.lag.converged_untimed > 0
    assert report.converged + report.lag.converged_untimed == 12


# -- several workers ----------------------------------------------------------------------------


def many_skus() -> History:
    initial = {"A": 5, "B": 5, "C": 1, "D": 3}
    history = History(A_L1=5, B_L1=5, C_L1=1, D_L2=3)
    for n, sku in enumerate("ABCD"):
        loc = "L2" if sku == "D" else "L1"
        history.place(f"{sku}1", 1.0 + n, 1.1 + n, sku=sku, loc=loc)
        history.place(f"{sku}2", 5.0 + n, 5.1 + n, sku=sku, loc=loc)
        # a look not yet showing the second order, then one that does: a timed lag
        history.view(5.3 + n, initial[sku] - 1, sku=sku, loc=loc)
        history.view(5.7 + n + n / 10, initial[sku] - 2, sku=sku, loc=loc)
        history.truth(9.0 + n, 2, sku=sku, loc=loc).view(12.0 + n, 3, sku=sku, loc=loc)
    return history.fault(0.5, 20.0, "kill-replica")


@pytest.mark.integration  # workers are child processes
def test_workers_share_the_skus_and_report_what_one_process_reports(tmp_path: Path) -> None:
    run = many_skus().write(tmp_path)
    alone, shared = check_run(run), check_run(run, workers=2)
    assert shared.to_dict() == alone.to_dict()
    assert alone.oversell_units == 1 and alone.truth_outside_interval == 4
    assert alone.converged == 4 and alone.lag.p99_s is not None
    assert alone.lag.p50_s != alone.lag.p50_upper_s  # both bounds merged alike


@pytest.mark.integration
def test_a_worker_that_meets_a_bad_file_reports_it(tmp_path: Path) -> None:
    (tmp_path / STOCK_FILE).write_text('{"t": 1.0}\nnot json\n')
    with pytest.raises(RunDirError, match=r"stock\.jsonl:2: corrupt record"):
        check_run(tmp_path, workers=2)


def test_stock_a_channel_cannot_sell_does_not_make_its_sold_out_false() -> None:
    history = History(A_L1=0, A_L2=3).place("p1", 1.0, 1.1, "fail", loc=None, reason="out_of_stock")
    fenced = DriftConfig(channel_locations=(("web", "L1"), ("store", "L2")))
    assert history.check(fenced).undersell_false_sold_out == 0  # web cannot sell L2
    everywhere = DriftConfig(channel_locations=(("web", "L*"),))
    assert history.check(everywhere).undersell_false_sold_out == 1
    assert history.check().undersell_false_sold_out == 1
