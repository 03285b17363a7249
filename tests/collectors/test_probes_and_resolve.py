"""Stock probes and the end-of-run resolution, against a fake OMS adapter."""

from __future__ import annotations

from typing import Any

from collectors.adapter import HttpCall, Outcome, StockRow
from collectors.ledger import Ledger
from collectors.probes import ProbeSchedule, StockProber
from collectors.resolve import open_operations, resolve_unknown


class FakeOms:
    """Truth per (sku, location); views that can lag; orders by key."""

    def __init__(self) -> None:
        self.truth = {("A", "loc-1"): 5, ("A", "loc-2"): 2, ("B", "loc-1"): 0}
        self.views: dict[tuple[str, str, str], int] = {}
        self.orders: dict[str, Outcome] = {}
        self.fail_truth = False

    def read_truth(self, sku: str) -> list[StockRow]:
        if self.fail_truth:
            raise ConnectionError("inventory unreachable")
        return [
            StockRow(s, loc, n, n, 0, 0) for (s, loc), n in sorted(self.truth.items()) if s == sku
        ]

    def read_all_truth(self) -> list[StockRow]:
        return [StockRow(s, loc, n, n, 0, 0) for (s, loc), n in sorted(self.truth.items())]

    def read_view(self, sku: str, channel: str) -> list[StockRow]:
        return [
            StockRow(s, loc, self.views.get((s, loc, channel), n))
            for (s, loc), n in sorted(self.truth.items())
            if s == sku
        ]

    def order_by_key(self, key: str) -> Outcome:
        return self.orders.get(key, Outcome("fail", reason="no such order"))

    def order_cancelled(self, order_id: str) -> Outcome:
        return Outcome("info", order_id, reason="http 503")

    # unused by these tests
    def place_call(self, *a: Any) -> HttpCall:
        raise NotImplementedError

    def place_outcome(self, *a: Any) -> Outcome:
        raise NotImplementedError

    def cancel_call(self, *a: Any) -> HttpCall:
        raise NotImplementedError

    def cancel_outcome(self, *a: Any) -> Outcome:
        raise NotImplementedError

    def stock_check_call(self, *a: Any) -> HttpCall:
        raise NotImplementedError

    def list_skus(self) -> list[str]: return ["A", "B"]  # fmt: skip


def prober(oms: FakeOms, out: list[dict[str, Any]]) -> StockProber:
    ticks = iter(range(1000))
    return StockProber(oms, out.append, channels=("web", "marketplace"),
                       clock=lambda: float(next(ticks)))  # fmt: skip


def test_a_probe_writes_truth_and_every_channel_view_per_location() -> None:
    oms, out = FakeOms(), []
    prober(oms, out).probe("A")
    kinds = [(r["kind"], r["channel"], r["location"], r["available"]) for r in out]
    assert kinds == [
        ("truth", None, "loc-1", 5), ("truth", None, "loc-2", 2),
        ("view", "web", "loc-1", 5), ("view", "web", "loc-2", 2),
        ("view", "marketplace", "loc-1", 5), ("view", "marketplace", "loc-2", 2),
    ]  # fmt: skip
    assert all(r["t0"] < r["t"] for r in out)


def test_the_start_snapshot_reads_all_of_the_truth() -> None:
    oms, out = FakeOms(), []
    prober(oms, out).snapshot("start")
    assert {(r["sku"], r["location"]) for r in out} == set(oms.truth)
    assert {r["phase"] for r in out} == {"start"}


def test_settle_waits_for_views_to_agree_then_reports_it() -> None:
    oms, out = FakeOms(), []
    oms.views[("A", "loc-1", "marketplace")] = 6  # stale
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        oms.views.clear()  # the view catches up

    assert prober(oms, out).settle(["A"], timeout_s=100, sleep=sleep)
    assert len(sleeps) == 1 and {r["phase"] for r in out} == {"settle"}


def test_settle_gives_up_at_its_timeout() -> None:
    oms, out = FakeOms(), []
    oms.views[("A", "loc-1", "web")] = 9
    assert not prober(oms, out).settle(["A"], timeout_s=30, sleep=lambda s: None)


def test_a_probe_that_fails_is_counted_not_fatal() -> None:
    oms, out = FakeOms(), []
    oms.fail_truth = True
    p = prober(oms, out)
    p.probe("A")
    assert p.errors == 1 and {r["kind"] for r in out} == {"view"}


def test_the_schedule_alternates_hot_skus_with_the_rest() -> None:
    schedule = ProbeSchedule(["H1", "H2"], ["R1", "R2", "R3"])
    assert [schedule.next_sku() for _ in range(6)] == ["H1", "R1", "H2", "R2", "H1", "R3"]


def test_unknown_outcomes_are_resolved_by_asking_the_oms() -> None:
    history: list[dict[str, Any]] = []
    ledger = Ledger(history.append, source="t", clock=lambda: 1.0)
    a = ledger.invoke("place", key="k1", sku="A", qty=1, location=None, channel="web")
    ledger.complete(a, "info", reason="timeout")
    b = ledger.invoke("place", key="k2", sku="A", qty=1, location=None, channel="web")
    ledger.complete(b, "ok", order_id="o2", location="loc-1")
    c = ledger.invoke(
        "place", key="k3", sku="B", qty=1, location=None, channel="app"
    )  # never completed
    d = ledger.invoke("cancel", key="k2", order_id="o2", sku="A", qty=1, location="loc-1",
                      channel="web")  # fmt: skip
    ledger.complete(d, "info", reason="http 503")
    assert [r["op"] for r in open_operations(history)] == [a.op, c.op, d.op]

    oms = FakeOms()
    oms.orders["k1"] = Outcome("ok", "o1", "loc-2")  # the timed-out order was placed
    written: list[dict[str, Any]] = []
    result = resolve_unknown(list(history), oms, Ledger(written.append, source="resolve"))
    assert (result.unknown, result.resolved) == (3, 2)
    by_op = {r["op"]: r for r in written}
    assert by_op[a.op]["phase"] == "ok" and by_op[a.op]["location"] == "loc-2"
    assert by_op[a.op]["resolved"] is True
    assert by_op[c.op]["phase"] == "fail"  # the OMS never saw k3
    assert d.op not in by_op  # the OMS could not say: stays unknown
