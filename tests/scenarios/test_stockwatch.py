"""StockWatch's events when the adapter has a bug (gevent only, no Locust, no real waits)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gevent
import httpx
import pytest

from collectors.adapter import Outcome, StockRow
from collectors.ledger import Ledger
from collectors.rundir import EventLog, RunDir
from scenarios.shoppers import Catalog
from scenarios.stockwatch import StockWatch
from slo.runfiles import LEDGER_FILE


class BuggyOms:
    """Truth reads work; view reads raise ``view_error``, order lookups ``order_error``."""

    def __init__(self, view_error: Exception, order_error: Exception) -> None:
        self.view_error = view_error
        self.order_error = order_error

    def read_truth(self, sku: str) -> list[StockRow]:
        return [StockRow(sku, "loc-1", 5, 5, 0, 0)]

    def read_all_truth(self) -> list[StockRow]:
        return [StockRow("SKU-000000", "loc-1", 5, 5, 0, 0)]

    def read_view(self, sku: str, channel: str) -> list[StockRow]:
        raise self.view_error

    def order_by_key(self, key: str) -> Outcome:
        raise self.order_error

    def order_cancelled(self, order_id: str) -> Outcome:
        raise self.order_error


def _watch(tmp_path: Path, oms: Any) -> tuple[RunDir, StockWatch]:
    run = RunDir.create(tmp_path, "run-1", plan={}, git_sha=None)
    ledger = Ledger(run.appender(LEDGER_FILE).append, source="load-0")
    op = ledger.invoke("place", key="k1", sku="SKU-000000", qty=1, location=None, channel="web")
    ledger.complete(op, "info", reason="timeout")
    watch = StockWatch(
        run, oms, catalog=Catalog.reference(3, 1.0), rate=10.0, hot_skus=0,
        settle_timeout_s=5.0, ledger=ledger, events=EventLog(run, source="load"),
    )  # fmt: skip
    return run, watch


def _events(run: RunDir) -> dict[str, list[dict[str, Any]]]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in run.events():
        by_type.setdefault(event["type"], []).append(event)
    return by_type


def test_an_adapter_bug_stops_probing_and_is_reported_in_the_events(tmp_path: Path) -> None:
    run, watch = _watch(tmp_path, BuggyOms(KeyError("locations"), KeyError("status")))
    watch.start()
    gevent.sleep(0)  # the probe loop runs once: truth, then the failing view
    assert watch._loop is not None and watch._loop.dead
    watch.finish()
    events = _events(run)
    (failed,) = events["probe_failed"]
    assert failed["error"] == "KeyError: 'locations'" and failed["call"] == "read_view"
    (resolved,) = events["unknown_resolved"]
    assert {k: resolved[k] for k in ("unknown", "resolved", "unanswered", "error")} == {
        "unknown": 1, "resolved": 0, "unanswered": 0, "error": "KeyError: 'status'",
    }  # fmt: skip
    assert events["views_settled"][0]["skipped"] is True
    (finished,) = events["probes_finished"]
    assert (finished["probe_reads"], finished["probe_errors"]) == (4, 0)


@pytest.mark.parametrize(
    "error",
    [pytest.param(httpx.ConnectError("refused"), id="the OMS refuses connections")],
)
def test_an_oms_that_cannot_answer_is_counted_not_reported(
    tmp_path: Path, error: Exception
) -> None:
    run, watch = _watch(tmp_path, BuggyOms(error, error))
    watch.start()
    gevent.sleep(0)
    assert watch._loop is not None and not watch._loop.dead  # still probing
    watch.finish()
    events = _events(run)
    assert "probe_failed" not in events
    (resolved,) = events["unknown_resolved"]
    assert (resolved["unanswered"], "error" in resolved) == (1, False)
    (finished,) = events["probes_finished"]
    assert finished["probe_errors"] == finished["probe_reads"] - 3  # truth reads worked
