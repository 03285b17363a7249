"""The peak-day collector against a fake OMS on a fake clock: what each metric counts,
and that every name it serves comes from slo.conventions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from collectors.adapter import HttpCall, Outcome, StockRow
from collectors.collect import LAG_BUCKETS_S, CanarySpec, Collector, http_sender
from collectors.probes import ProbeSchedule
from slo import conventions
from slo.conventions import CHANNELS, COLLECT_METRICS, RUN_ID_HEADER


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeOms:
    """Truth and views as functions of the fake clock; each read takes ``call_s``.

    ``views[channel]`` gives a channel's value at a time (default: the truth); ``raises``
    makes a call raise (``("view", "app")``, ``("truth", None)``); orders go to ``place``.
    """

    def __init__(self, clock: Clock, truth: Callable[[float], int], call_s: float = 0.004):
        self.clock, self.truth, self.call_s = clock, truth, call_s
        self.views: dict[str, Callable[[float], int]] = {}
        self.raises: dict[tuple[str, str | None], Exception] = {}
        self.placed: list[HttpCall] = []
        self.orders: dict[str, Outcome] = {}
        self.cancelled: list[str] = []  # by cancel_order (retries and cleanup)

    def _read(self, kind: str, channel: str | None, value: Callable[[float], int]) -> int:
        self.clock.sleep(self.call_s / 2)
        if (kind, channel) in self.raises:
            raise self.raises[kind, channel]
        seen = value(self.clock.now)
        self.clock.sleep(self.call_s / 2)
        return seen

    def read_truth(self, sku: str) -> list[StockRow]:
        return [StockRow(sku, "loc-1", self._read("truth", None, self.truth))]

    def read_view(self, sku: str, channel: str) -> list[StockRow]:
        value = self.views.get(channel, self.truth)
        return [StockRow(sku, "loc-1", self._read("view", channel, value))]

    def list_skus(self) -> list[str]:
        return ["SKU-1"]

    def read_all_truth(self) -> list[StockRow]:
        return self.read_truth("SKU-1")

    def place_call(
        self, key: str, channel: str, sku: str, qty: int, location: str | None, customer: str
    ) -> HttpCall:
        body = {"key": key, "sku": sku, "channel": channel, "customer": customer}
        call = HttpCall("POST", "/orders", body)
        self.placed.append(call)
        return call

    def place_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome:
        if status == 0:
            return Outcome("info", reason="transport")
        return Outcome("ok", (body or {})["order_id"], "loc-1")

    def cancel_call(self, order_id: str, channel: str, location: str | None) -> HttpCall:
        return HttpCall("POST", f"/orders/{order_id}/cancel")

    def cancel_outcome(self, status: int, body: dict[str, Any] | None) -> Outcome:
        return Outcome("ok" if status == 200 else "info")

    def order_by_key(self, key: str) -> Outcome:
        return self.orders.get(key, Outcome("fail", reason="no such order"))

    def order_cancelled(self, order_id: str) -> Outcome:
        return Outcome("fail")

    def cancel_order(self, order_id: str, location: str | None) -> Outcome:
        self.cancelled.append(order_id)
        return Outcome("ok", order_id, location)

    def stock_check_call(self, sku: str, channel: str) -> HttpCall:
        return HttpCall("GET", f"/stock/{sku}")


def steps(start: int, changes: list[tuple[float, int]]) -> Callable[[float], int]:
    def value(t: float) -> int:
        current = start
        for when, new in changes:
            if t >= when:
                current = new
        return current

    return value


def collector(oms: FakeOms, clock: Clock, *, staleness_s: float = 1.0, **kw: Any) -> Collector:
    return Collector(oms, ProbeSchedule(["SKU-1"], []), rate=10.0, view_staleness_s=staleness_s,
                     lag_resolution_s=kw.pop("resolution_s", 1.0), clock=clock,
                     sleep=clock.sleep, **kw)  # fmt: skip


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    assert value is not None, f"{name}{labels} not exposed"
    return value


T0 = 1_000.0


def test_a_view_lagging_a_known_constant_is_bracketed_by_the_lag_histogram() -> None:
    clock = Clock(T0)
    changes = [(T0 + 0.5 + 0.37 * i, 100 - i) for i in range(1, 40)]
    oms = FakeOms(clock, steps(100, changes))
    lag_s = 0.3
    oms.views["marketplace"] = lambda t: steps(100, changes)(t - lag_s)
    c = collector(oms, clock, staleness_s=1.0)
    c.run(for_s=18.0)
    r = c.registry
    name = "peakops_collect_convergence_lag_seconds_bucket"
    total = sample(r, "peakops_collect_convergence_lag_seconds_count", channel="marketplace",
                   bound="lower")  # fmt: skip
    assert total >= 30
    at_or_above = min(b for b in LAG_BUCKETS_S if b >= lag_s)
    below = max(b for b in LAG_BUCKETS_S if b < lag_s)
    # every lower bound at most the lag, every upper bound at least it
    assert sample(r, name, channel="marketplace", bound="lower", le=str(at_or_above)) == total
    assert sample(r, name, channel="marketplace", bound="upper", le=str(below)) == 0
    # a lag well inside the staleness allowance is never drift
    assert sample(r, "peakops_collect_view_outside_allowance_total", channel="marketplace") == 0
    assert sample(r, "peakops_collect_view_observations_total", channel="marketplace") > 100


def test_drift_is_counted_only_beyond_the_staleness_allowance() -> None:
    clock = Clock(T0)
    oms = FakeOms(clock, steps(10, [(T0 + 2.0, 7)]))
    oms.views["web"] = lambda t: 10  # frozen at 10 while the truth went to 7 at T0 + 2
    c = collector(oms, clock, staleness_s=1.0)
    c.run(for_s=2.95)  # up to 0.95 s after the change: within the allowance
    r = c.registry
    assert sample(r, "peakops_collect_view_outside_allowance_total", channel="web") == 0
    assert sample(r, "peakops_collect_view_drift_units", channel="web") == 0
    c.run(for_s=1.0)
    outside = sample(r, "peakops_collect_view_outside_allowance_total", channel="web")
    assert 5 <= outside <= 10  # the looks from T0 + 3 on (10 a second)
    assert sample(r, "peakops_collect_view_drift_units", channel="web") == 3
    assert sample(r, "peakops_collect_view_outside_allowance_total", channel="app") == 0
    assert sample(r, "peakops_collect_convergence_pending_seconds", channel="web") >= 1.8
    assert sample(r, "peakops_collect_convergence_pending_seconds", channel="app") == 0
    oms.views["web"] = oms.truth  # the view catches up: a lag of about 2 s, timed
    lag_s = clock.now - (T0 + 2.0)
    c.run(for_s=0.5)
    assert sample(r, "peakops_collect_view_drift_units", channel="web") == 0
    assert sample(r, "peakops_collect_convergence_pending_seconds", channel="web") == 0
    lower = sample(r, "peakops_collect_convergence_lag_seconds_sum", channel="web", bound="lower")
    upper = sample(r, "peakops_collect_convergence_lag_seconds_sum", channel="web", bound="upper")
    assert lower <= lag_s <= upper <= lower + 0.25


def test_the_first_second_of_views_is_not_judged() -> None:
    clock = Clock(T0)
    oms = FakeOms(clock, lambda t: 5)
    c = collector(oms, clock, staleness_s=1.0)
    c.run(for_s=0.95)
    assert sample(c.registry, "peakops_collect_view_unjudged_total", channel="web") >= 9
    assert sample(c.registry, "peakops_collect_view_observations_total", channel="web") == 0


def test_negative_stock_is_counted_per_source() -> None:
    clock = Clock(T0)
    oms = FakeOms(clock, lambda t: -2)
    oms.views["store"] = lambda t: -1
    c = collector(oms, clock)
    for _ in range(3):
        c.step()
    r = c.registry
    assert sample(r, "peakops_collect_negative_stock_total", source="truth") == 6  # 2 a probe
    assert sample(r, "peakops_collect_negative_stock_total", source="store") == 3
    assert sample(r, "peakops_collect_negative_stock_total", source="app") == 3


def test_an_unanswered_read_is_counted_and_probing_goes_on() -> None:
    clock = Clock(T0)
    oms = FakeOms(clock, lambda t: 5)
    oms.raises[("view", "app")] = httpx.ConnectError("refused")
    c = collector(oms, clock)
    assert [c.step() for _ in range(3)] == ["SKU-1"] * 3
    r = c.registry
    assert sample(r, "peakops_collect_probe_errors_total", kind="unanswered", call="view") == 3
    assert sample(r, "peakops_collect_probe_errors_total", kind="adapter_bug", call="view") == 0
    assert sample(r, "peakops_collect_probe_failed") == 0
    assert sample(r, "peakops_collect_probe_duration_seconds_count", call="view") == 12
    assert sample(r, "peakops_collect_probe_duration_seconds_count", call="truth") == 6


def test_an_unanswered_closing_truth_read_leaves_the_views_unjudged() -> None:
    clock = Clock(T0)
    oms = FakeOms(clock, lambda t: 5)
    c = collector(oms, clock)
    c.run(for_s=1.5)
    judged = sample(c.registry, "peakops_collect_view_observations_total", channel="web")
    oms.raises[("truth", None)] = httpx.ReadTimeout("slow")
    c.step()
    assert sample(c.registry, "peakops_collect_view_observations_total", channel="web") == judged
    assert sample(c.registry, "peakops_collect_probe_errors_total", kind="unanswered",
                  call="truth") == 2  # fmt: skip


def test_an_adapter_bug_is_reported_once_and_stops_probing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock(T0)
    oms = FakeOms(clock, lambda t: 5)
    oms.raises[("view", "store")] = KeyError("locations")
    c = collector(oms, clock)
    with caplog.at_level(logging.ERROR):
        assert c.step() == "SKU-1"
        assert c.step() is None  # stopped
    r = c.registry
    assert sample(r, "peakops_collect_probe_errors_total", kind="adapter_bug", call="view") == 1
    assert sample(r, "peakops_collect_probe_failed") == 1
    assert c.failure is not None and c.failure.error == "KeyError: 'locations'"
    assert len([rec for rec in caplog.records if "raised a bug" in rec.message]) == 1
    assert b"peakops_collect_probe_failed 1.0" in generate_latest(r)  # still served


def test_every_family_served_is_named_in_slo_conventions_with_help() -> None:
    clock = Clock(T0)
    oms = FakeOms(clock, lambda t: 5)
    c = collector(oms, clock, canary=CanarySpec("SKU-CANARY", every_s=5.0),
                  send=lambda call: (201, {"order_id": "o-1"}))  # fmt: skip
    c.tick()
    served = set()
    for family in c.registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        assert name in COLLECT_METRICS, f"{name} is not in slo.conventions.COLLECT_METRICS"
        assert family.documentation, f"{name} has no HELP text"
        for sample_ in family.samples:
            assert set(sample_.labels) <= {
                conventions.LABEL_CHANNEL, conventions.LABEL_BOUND, conventions.LABEL_KIND,
                conventions.LABEL_CALL, conventions.LABEL_OP, conventions.LABEL_OUTCOME,
                conventions.LABEL_SOURCE, "le",
            }  # fmt: skip
        served.add(name)
    assert served == set(COLLECT_METRICS)
    assert all(name.startswith("peakops_collect_") for name in COLLECT_METRICS)


def test_each_collector_has_its_own_registry() -> None:
    clock = Clock(T0)
    first, second = (collector(FakeOms(clock, lambda t: 5), clock) for _ in range(2))
    first.step()
    assert first.registry is not second.registry
    assert sample(second.registry, "peakops_collect_probe_duration_seconds_count",
                  call="truth") == 0  # fmt: skip


# -- the canary ------------------------------------------------------------------


def test_without_a_canary_no_order_is_ever_placed() -> None:
    clock = Clock(T0)
    oms = FakeOms(clock, lambda t: 5)
    c = collector(oms, clock)
    c.run(for_s=30.0)
    c.close()
    assert oms.placed == []
    assert c.canary is None
    assert "peakops_collect_canary" not in generate_latest(c.registry).decode()


def test_the_canary_orders_and_cancels_every_period_tagged_with_the_run_id() -> None:
    clock = Clock(T0)
    oms = FakeOms(clock, lambda t: 5)
    sent: list[HttpCall] = []

    def send(call: HttpCall) -> tuple[int, dict[str, Any] | None]:
        sent.append(call)
        clock.sleep(0.02)
        return (201, {"order_id": f"o-{len(sent)}"}) if call.path == "/orders" else (200, {})

    records: list[dict[str, Any]] = []
    c = collector(oms, clock, canary=CanarySpec("SKU-CANARY", every_s=2.0), send=send,
                  run_id="20261127-000000-abcd", sink=records.append)  # fmt: skip
    c.run(for_s=5.0)
    r = c.registry
    assert [call.path for call in sent] == [
        "/orders", "/orders/o-1/cancel", "/orders", "/orders/o-3/cancel", "/orders",
        "/orders/o-5/cancel",
    ]  # fmt: skip
    assert [call.json["key"] for call in oms.placed] == [
        f"peakops-canary-20261127-000000-abcd-{n}" for n in (1, 2, 3)
    ]
    assert {call.json["customer"] for call in oms.placed} == {"peakops-synthetic"}
    assert sample(r, "peakops_collect_canary_operations_total", op="place", outcome="ok") == 3
    assert sample(r, "peakops_collect_canary_operations_total", op="cancel", outcome="ok") == 3
    assert sample(r, "peakops_collect_canary_duration_seconds_sum", op="place") == (
        pytest.approx(0.06)
    )
    assert sample(r, "peakops_collect_canary_open_orders") == 0
    ledger = [rec for rec in records if rec["record"] == "ledger"]
    assert [(rec["type"], rec["phase"]) for rec in ledger[:2]] == [
        ("place", "ok"),
        ("cancel", "ok"),
    ]


def test_a_canary_order_of_unknown_outcome_is_resolved_and_cancelled_at_cleanup() -> None:
    clock = Clock(T0)
    oms = FakeOms(clock, lambda t: 5)
    answers = iter([(0, None)])  # the place times out; the cancel is answered

    def send(call: HttpCall) -> tuple[int, dict[str, Any] | None]:
        return next(answers, (200, {}))

    c = collector(oms, clock, canary=CanarySpec("SKU-CANARY", every_s=60.0), send=send,
                  run_id="r")  # fmt: skip
    c.tick()
    r = c.registry
    assert sample(r, "peakops_collect_canary_operations_total", op="place", outcome="info") == 1
    assert sample(r, "peakops_collect_canary_open_orders") == 1
    oms.orders["peakops-canary-r-1"] = Outcome("ok", "o-9", "loc-1")  # it was placed after all
    c.close()
    assert oms.cancelled == ["o-9"]
    assert sample(r, "peakops_collect_canary_open_orders") == 0


def test_the_http_sender_tags_requests_and_turns_no_answer_into_status_0() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/down":
            raise httpx.ConnectError("refused")
        return httpx.Response(201, json={"order_id": "o-1"})

    client = httpx.Client(base_url="http://127.0.0.1:1", headers={RUN_ID_HEADER: "run-7"},
                          transport=httpx.MockTransport(handler))  # fmt: skip
    send = http_sender(client)
    assert send(HttpCall("POST", "/orders", {"a": 1})) == (201, {"order_id": "o-1"})
    assert send(HttpCall("GET", "/down")) == (0, None)
    assert seen[0].headers[RUN_ID_HEADER] == "run-7"


def test_the_collector_probes_every_channel_of_the_conventions() -> None:
    clock = Clock(T0)
    c = collector(FakeOms(clock, lambda t: 5), clock)
    assert c.channels == CHANNELS
