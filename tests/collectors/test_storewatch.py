"""What a store outage cost, read from the stores' outbox polls and the fault windows."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from collectors.storewatch import StoreOutage, poll_outbox, store_outages
from platforms.processes import free_port

OUTAGE = [
    {"ts": 100.0, "type": "fault_started", "fault": "store-offline", "id": "s1"},
    {"ts": 110.0, "type": "fault_stopped", "id": "s1"},
]


def poll(t: float, pending: int, units: int, drained: float | None = None, **kw: Any) -> dict:
    return {"t": t, "store": kw.get("store", "store-1"), "online": pending == 0,
            "pending": pending, "pending_units": units, "forwarded_total": 0,
            "last_drained_at": drained}  # fmt: skip


def test_an_outage_reports_the_units_sold_offline_and_when_they_reached_the_truth() -> None:
    polls = [poll(99.0, 0, 0), poll(104.0, 3, 5), poll(109.9, 7, 12),
             poll(110.2, 2, 3), poll(110.5, 0, 0, drained=110.41)]  # fmt: skip
    (outage,) = store_outages(OUTAGE, polls)
    assert outage.peak_pending_units == 12
    assert outage.queued_ops == 7
    assert outage.reconcile_s == pytest.approx(0.41)  # the store's own drain time, not the poll


def test_units_queued_at_two_stores_at_once_add_up() -> None:
    polls = [poll(105.0, 2, 4, store="store-1"), poll(105.1, 3, 6, store="store-2"),
             poll(111.0, 0, 0, drained=110.3, store="store-1"),
             poll(111.1, 0, 0, drained=110.6, store="store-2")]  # fmt: skip
    (outage,) = store_outages(OUTAGE, polls)
    assert outage.peak_pending_units == 10
    assert outage.reconcile_s == pytest.approx(0.6)  # the last store to drain


def test_an_outbox_still_full_at_the_end_never_reconciled() -> None:
    (outage,) = store_outages(OUTAGE, [poll(105.0, 2, 2), poll(115.0, 2, 2)])
    assert outage.reconciled_at is None and outage.reconcile_s is None


def test_an_outage_without_a_sale_reconciles_at_once() -> None:
    (outage,) = store_outages(OUTAGE, [poll(105.0, 0, 0), poll(110.3, 0, 0)])
    assert outage.reconcile_s == 0.0 and outage.peak_pending_units == 0


def test_other_faults_and_unanswered_polls_are_ignored() -> None:
    events = [{"ts": 1.0, "type": "fault_started", "fault": "network-cut", "id": "n1"}, *OUTAGE]
    polls = [{"t": 105.0, "store": "store-1", "error": "ConnectError"}, poll(110.1, 0, 0)]
    assert store_outages(events, polls) == [StoreOutage("s1", 100.0, 110.0, 0, 0, 110.0, 1)]


def test_a_store_that_does_not_answer_is_recorded_as_such() -> None:
    port = free_port()  # nothing listens there: the connection is refused
    with httpx.Client(timeout=1, trust_env=False) as client:
        record = poll_outbox(client, "store-1", f"http://127.0.0.1:{port}")
    assert record["store"] == "store-1" and "ConnectError" in record["error"]
