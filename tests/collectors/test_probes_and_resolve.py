"""Stock probes and the end-of-run resolution, against a fake OMS adapter (and the
reference adapter over ``httpx.MockTransport``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from collectors.adapter import HttpCall, Outcome, ReferenceOmsAdapter, StockRow
from collectors.ledger import Ledger
from collectors.probes import ProbeSchedule, StockProber, probe_until_failed
from collectors.resolve import open_operations, resolve_unknown


class Rows(list[dict[str, Any]]):
    """The stock records a prober wrote."""


class Events:
    """A fake event sink: ``(type, fields)`` per event."""

    def __init__(self) -> None:
        self.out: list[tuple[str, dict[str, Any]]] = []

    def emit(self, type_: str, **fields: Any) -> None:
        self.out.append((type_, fields))

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [fields for t, fields in self.out if t == type_]


class FakeOms:
    """Truth per (sku, location); views that can lag; orders by key."""

    def __init__(self) -> None:
        self.truth = {("A", "loc-1"): 5, ("A", "loc-2"): 2, ("B", "loc-1"): 0}
        self.views: dict[tuple[str, str, str], int] = {}
        self.orders: dict[str, Outcome] = {}
        self.fail_truth: Exception | None = None  # raised by read_truth and read_all_truth
        self.fail_view: Exception | None = None  # raised by read_view
        self.fail_orders: dict[str, Exception] = {}  # raised by order_by_key, by key

    def read_truth(self, sku: str) -> list[StockRow]:
        if self.fail_truth is not None:
            raise self.fail_truth
        return [
            StockRow(s, loc, n, n, 0, 0) for (s, loc), n in sorted(self.truth.items()) if s == sku
        ]

    def read_all_truth(self) -> list[StockRow]:
        if self.fail_truth is not None:
            raise self.fail_truth
        return [StockRow(s, loc, n, n, 0, 0) for (s, loc), n in sorted(self.truth.items())]

    def read_view(self, sku: str, channel: str) -> list[StockRow]:
        if self.fail_view is not None:
            raise self.fail_view
        return [
            StockRow(s, loc, self.views.get((s, loc, channel), n))
            for (s, loc), n in sorted(self.truth.items())
            if s == sku
        ]

    def order_by_key(self, key: str) -> Outcome:
        if key in self.fail_orders:
            raise self.fail_orders[key]
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


def prober(oms: Any, out: list[dict[str, Any]], events: Events | None = None) -> StockProber:
    ticks = iter(range(1000))
    return StockProber(
        oms, out.append, events=events or Events(), channels=("web", "marketplace"),
        clock=lambda: float(next(ticks)),
    )  # fmt: skip


def test_a_probe_writes_truth_and_every_channel_view_per_location() -> None:
    oms, out = FakeOms(), Rows()
    prober(oms, out).probe("A")
    kinds = [(r["kind"], r["channel"], r["location"], r["available"]) for r in out]
    assert kinds == [
        ("truth", None, "loc-1", 5), ("truth", None, "loc-2", 2),
        ("view", "web", "loc-1", 5), ("view", "web", "loc-2", 2),
        ("view", "marketplace", "loc-1", 5), ("view", "marketplace", "loc-2", 2),
    ]  # fmt: skip
    assert all(r["t0"] < r["t"] for r in out)


def test_the_start_snapshot_reads_all_of_the_truth() -> None:
    oms, out = FakeOms(), Rows()
    prober(oms, out).snapshot("start")
    assert {(r["sku"], r["location"]) for r in out} == set(oms.truth)
    assert {r["phase"] for r in out} == {"start"}


def test_settle_waits_for_views_to_agree_then_reports_it() -> None:
    oms, out = FakeOms(), Rows()
    oms.views[("A", "loc-1", "marketplace")] = 6  # stale
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        oms.views.clear()  # the view catches up

    assert prober(oms, out).settle(["A"], timeout_s=100, sleep=sleep)
    assert len(sleeps) == 1 and {r["phase"] for r in out} == {"settle"}


def test_settle_gives_up_at_its_timeout() -> None:
    oms, out = FakeOms(), Rows()
    oms.views[("A", "loc-1", "web")] = 9
    assert not prober(oms, out).settle(["A"], timeout_s=30, sleep=lambda s: None)


def _status_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://oms/stock/A")
    return httpx.HTTPStatusError("server error", request=request,
                                 response=httpx.Response(status, request=request))  # fmt: skip


UNANSWERED_CASES = [
    pytest.param(httpx.ConnectError("connection refused"), id="the connection is refused"),
    pytest.param(httpx.ReadTimeout("timed out"), id="the read times out"),
    pytest.param(_status_error(503), id="the OMS answers 503 (raise_for_status)"),
    pytest.param(json.JSONDecodeError("Expecting value", "<html>", 0), id="the body is not JSON"),
]


@pytest.mark.parametrize("error", UNANSWERED_CASES)
def test_a_read_the_oms_could_not_answer_is_counted_and_probing_goes_on(error: Exception) -> None:
    oms, out, events = FakeOms(), Rows(), Events()
    oms.fail_truth = error
    p = prober(oms, out, events)
    p.probe("A")
    assert (p.reads, p.errors) == (3, 1)  # truth failed; both views were still read
    assert {r["kind"] for r in out} == {"view"}
    assert not p.failed and events.out == []


@pytest.mark.parametrize("error", UNANSWERED_CASES)
def test_the_probe_loop_keeps_going_through_reads_the_oms_could_not_answer(
    error: Exception,
) -> None:
    oms, events = FakeOms(), Events()
    oms.fail_view = error
    p = prober(oms, [], events)
    probed: list[str] = []
    with pytest.raises(_Stop):  # only its caller stops it
        probe_until_failed(p, ProbeSchedule(["A"], ["B"]), period_s=0.5,
                           sleep=_stop_after(3), on_probe=probed.append)  # fmt: skip
    assert probed == ["A", "B", "A", "B"] and p.errors == 8 and events.out == []


class _Stop(Exception):
    pass


def _stop_after(sleeps: int) -> Callable[[float], None]:
    """A fake sleep that returns at once, and ends the loop at the ``sleeps``+1-th call."""
    left = [sleeps]

    def sleep(seconds: float) -> None:
        if left[0] == 0:
            raise _Stop
        left[0] -= 1

    return sleep


def test_an_adapter_bug_stops_probing_loudly(caplog: pytest.LogCaptureFixture) -> None:
    oms, events = FakeOms(), Events()
    oms.fail_view = KeyError("locations")
    p = prober(oms, [], events)
    sleeps: list[float] = []
    with caplog.at_level(logging.ERROR, logger="collectors.probes"):
        probe_until_failed(p, ProbeSchedule(["A"], ["B"]), period_s=0.5, sleep=sleeps.append)
    assert sleeps == []  # stopped at the first failing call, without waiting for another
    (failed,) = events.of("probe_failed")
    assert failed["error"] == "KeyError: 'locations'" and failed["call"] == "read_view"
    assert failed["args"] == ["A", "web"] and failed["phase"] == "run"
    assert (p.reads, p.errors) == (2, 0)  # a bug is not counted as the OMS not answering
    assert p.failure is not None and p.failure.call == "read_view"
    assert caplog.records and caplog.records[0].exc_info is not None  # the traceback


def test_after_a_failure_the_settle_is_skipped_and_the_final_snapshot_tried_once() -> None:
    oms, out, events = FakeOms(), Rows(), Events()
    oms.fail_truth = TypeError("int() argument must be a string")
    p = prober(oms, out, events)
    with pytest.raises(Exception, match="read_truth"):
        p.probe("A")
    settle_sleeps: list[float] = []
    settled = p.settle_views(["A"], timeout_s=100, sleep=settle_sleeps.append)
    assert settled["skipped"] is True and settled["converged"] is False
    assert settle_sleeps == [] and p.reads == 1
    p.final_snapshot(["A"])  # fails again: reported, not raised
    assert [f["call"] for f in events.of("probe_failed")] == ["read_truth", "read_all_truth"]
    assert p.reads == 2 and out == []


def test_a_settle_without_failures_reports_its_fields() -> None:
    settled = prober(FakeOms(), []).settle_views(["A"], timeout_s=100, sleep=lambda s: None)
    assert settled["converged"] is True and settled["skus"] == 1 and "skipped" not in settled
    assert settled["seconds"] > 0  # of the prober's clock


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


def _history_of_unknown_places(keys: list[str]) -> list[dict[str, Any]]:
    history: list[dict[str, Any]] = []
    ledger = Ledger(history.append, source="t", clock=lambda: 1.0)
    for key in keys:
        handle = ledger.invoke("place", key=key, sku="A", qty=1, location=None, channel="web")
        ledger.complete(handle, "info", reason="timeout")
    return history


@pytest.mark.parametrize("error", UNANSWERED_CASES)
def test_an_operation_the_oms_could_not_answer_about_stays_unknown_and_is_counted(
    error: Exception,
) -> None:
    oms = FakeOms()
    oms.fail_orders["k1"] = error
    oms.orders["k2"] = Outcome("ok", "o2", "loc-1")
    written: list[dict[str, Any]] = []
    result = resolve_unknown(_history_of_unknown_places(["k1", "k2"]), oms,
                             Ledger(written.append, source="resolve"))  # fmt: skip
    assert (result.unknown, result.resolved, result.unanswered, result.error) == (2, 1, 1, None)
    assert [r["key"] for r in written] == ["k2"]
    assert result.event_fields() == {"unknown": 2, "resolved": 1, "unanswered": 1}


def test_an_adapter_bug_stops_resolution_and_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    oms = FakeOms()
    oms.orders["k1"] = Outcome("ok", "o1", "loc-1")
    oms.fail_orders["k2"] = KeyError("status")
    oms.orders["k3"] = Outcome("ok", "o3", "loc-1")
    written: list[dict[str, Any]] = []
    with caplog.at_level(logging.ERROR, logger="collectors.resolve"):
        result = resolve_unknown(_history_of_unknown_places(["k1", "k2", "k3"]), oms,
                                 Ledger(written.append, source="resolve"))  # fmt: skip
    assert (result.unknown, result.resolved, result.unanswered) == (3, 1, 0)
    assert result.error == "KeyError: 'status'"
    assert [r["key"] for r in written] == ["k1"]  # k2 and k3 stay unknown
    assert result.event_fields()["error"] == "KeyError: 'status'"
    assert caplog.records and caplog.records[0].exc_info is not None


# -- the reference adapter's stock rows, over httpx.MockTransport ---------------------


def _adapter(routes: dict[str, Any]) -> ReferenceOmsAdapter:
    """The reference adapter against canned JSON bodies by path (a str body: sent as is)."""

    def handle(request: httpx.Request) -> httpx.Response:
        body = routes.get(request.url.path)
        if body is None:
            return httpx.Response(404, json={"status": "not_found"})
        if isinstance(body, int):
            return httpx.Response(body)
        if isinstance(body, str):
            return httpx.Response(200, content=body.encode())
        return httpx.Response(200, json=body)

    return ReferenceOmsAdapter("http://orders", "http://inventory",
                               transport=httpx.MockTransport(handle))  # fmt: skip


def test_counts_the_oms_does_not_expose_are_none() -> None:
    adapter = _adapter({
        "/stock/SKU-1": {"locations": {"loc-1": {"available": 4, "on_hand": 6},
                                       "loc-2": {"available": 0, "on_hand": None}}},
    })  # fmt: skip
    assert adapter.read_truth("SKU-1") == [
        StockRow("SKU-1", "loc-1", 4, 6, None, None),
        StockRow("SKU-1", "loc-2", 0, None, None, None),
    ]


def test_the_snapshot_reads_rows_without_reserved_or_committed() -> None:
    adapter = _adapter({"/stock": {"stock": {"SKU-1": {"loc-1": {"available": 3}}}}})
    assert adapter.read_all_truth() == [StockRow("SKU-1", "loc-1", 3)]


@pytest.mark.parametrize(
    ("route", "call", "shown"),
    [
        pytest.param({"/stock/SKU-7": {"locations": {"loc-1": {"available": "many"}}}},
                     "read_truth", "'many'", id="the truth says available is a word"),
        pytest.param({"/stock/SKU-7": {"locations": {"loc-1": {"on_hand": 5}}}},
                     "read_truth", "missing", id="the truth has no available count"),
        pytest.param({"/stock/SKU-7": {"locations": {"loc-1": None}}},
                     "read_view", "None", id="a view says available is null"),
    ],
)  # fmt: skip
def test_an_available_count_that_is_not_an_integer_is_an_adapter_mismatch(
    route: dict[str, Any], call: str, shown: str
) -> None:
    adapter = _adapter(route)
    args = ("SKU-7",) if call == "read_truth" else ("SKU-7", "web")
    with pytest.raises(ValueError, match=f"'SKU-7' at location 'loc-1': available is {shown}"):
        getattr(adapter, call)(*args)


def test_a_mismatched_truth_stops_probing_instead_of_counting_as_chaos() -> None:
    adapter = _adapter({"/stock/SKU-7": {"locations": {"loc-1": {"available": "many"}}}})
    events = Events()
    p = prober(adapter, [], events)
    probe_until_failed(p, ProbeSchedule(["SKU-7"], []), period_s=1, sleep=lambda s: None)
    (failed,) = events.of("probe_failed")
    assert failed["error"].startswith("ValueError: ") and "SKU-7" in failed["error"]
    assert p.errors == 0


@pytest.mark.parametrize(
    "body",
    [pytest.param(503, id="the inventory answers 503"),
     pytest.param("<html>bad gateway</html>", id="the inventory answers a page, not JSON")],
)  # fmt: skip
def test_the_reference_adapter_raises_what_probes_count(body: Any) -> None:
    p = prober(_adapter({"/stock/SKU-1": body}), [])
    p.probe("SKU-1")  # the views 404: raise_for_status, counted too
    assert (p.reads, p.errors) == (3, 3) and not p.failed


@pytest.mark.parametrize(
    ("order", "reservation", "phase"),
    [
        ({"order_id": "o1", "status": "error"}, {"status": "reserved", "location": "loc-1"}, "ok"),
        ({"order_id": "o1", "status": "error"}, None, "fail"),
        ({"order_id": "o1", "status": "pending"}, {"status": "out_of_stock"}, "fail"),
        ({"order_id": "o1", "status": "confirmed", "location": "loc-2"}, None, "ok"),
    ],
    ids=[
        "an order the OMS left in error but inventory reserved took stock",
        "an order the OMS left in error that never reached inventory did not",
        "a pending order inventory refused did not take stock",
        "a confirmed order is taken at its word",
    ],
)  # fmt: skip
def test_an_order_the_oms_could_not_settle_is_asked_of_the_source_of_truth(
    order: dict[str, Any], reservation: dict[str, Any] | None, phase: str
) -> None:
    routes: dict[str, Any] = {"/orders": order}
    if reservation is not None:
        routes["/reservations/o1"] = reservation
    assert _adapter(routes).order_by_key("k1").phase == phase


@pytest.mark.parametrize(
    ("status", "body", "phase"),
    [
        (201, {"status": "confirmed", "order_id": "o1"}, "ok"),
        (409, {"status": "rejected", "reason": "out_of_stock"}, "fail"),
        (422, {"status": "invalid"}, "fail"),
        (503, {"status": "error"}, "info"),
        (0, None, "info"),
        (200, {"sku": "SKU-1", "locations": {"loc-1": 3}}, "info"),
    ],
    ids=[
        "a confirmed order applied",
        "a rejection did not",
        "an invalid request did not",
        "a 5xx may have been applied",
        "no answer may have been applied",
        "a 2xx that is not the order proves nothing: unknown, resolved afterwards",
    ],
)  # fmt: skip
def test_only_definite_answers_decide_an_order(
    status: int, body: dict[str, Any] | None, phase: str
) -> None:
    assert _adapter({}).place_outcome(status, body).phase == phase


def test_a_cancel_is_applied_only_when_the_answer_says_cancelled() -> None:
    adapter = _adapter({})
    assert adapter.cancel_outcome(200, {"order_id": "o1", "status": "cancelled"}).phase == "ok"
    assert adapter.cancel_outcome(200, {"sku": "SKU-1"}).phase == "info"
    assert adapter.cancel_outcome(409, {"status": "confirmed"}).phase == "fail"
