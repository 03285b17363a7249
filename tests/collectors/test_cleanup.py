"""Cleanup on a synthetic ledger with a fake adapter: what is left, what gets cancelled,
what cannot be, and that a second cleanup finds nothing left to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from collectors.adapter import Outcome
from collectors.cleanup import (
    UNANSWERED_IN_A_ROW,
    CleanupReport,
    Leftovers,
    NotCancelled,
    cleanup_note,
    cleanup_orders,
    cleanup_run,
    leftover_orders,
)
from collectors.ledger import Ledger
from collectors.rundir import EventLog, RunDir
from slo.runfiles import CLEANUP_FILE, LEDGER_FILE


def ledger_records() -> list[dict[str, Any]]:
    """A run's history: every way an order can end."""
    out: list[dict[str, Any]] = []
    ledger = Ledger(out.append, source="load", clock=lambda: 1.0)

    def place(key: str, phase: str, order_id: str | None, location: str | None = "loc-1") -> Any:
        op = ledger.invoke("place", key=key, sku="A", qty=1, location=None, channel="web",
                           order_id=None)  # fmt: skip
        if phase != "invoke":
            ledger.complete(op, phase, order_id=order_id, location=location)
        return op

    def cancel(order_id: str, phase: str) -> None:
        op = ledger.invoke("cancel", key="c", sku="A", qty=1, location="loc-1", channel="web",
                           order_id=order_id)  # fmt: skip
        ledger.complete(op, phase)

    place("k-confirmed", "ok", "o-confirmed")
    place("k-store", "ok", "o-store", "store-1")
    place("k-cancelled", "ok", "o-cancelled")
    cancel("o-cancelled", "ok")
    place("k-cancel-unknown", "ok", "o-cancel-unknown")
    cancel("o-cancel-unknown", "info")
    place("k-cancel-refused", "ok", "o-cancel-refused")
    cancel("o-cancel-refused", "fail")
    place("k-rejected", "fail", None)
    unknown = place("k-resolved-ok", "info", None)
    ledger.resolved({**unknown.fields, "op": unknown.op, "type": "place", "phase": "info"}, "ok",
                    order_id="o-resolved", location="loc-2")  # fmt: skip
    place("k-resolved-cancelled", "ok", "o-resolved-cancelled")  # its cancel resolved ok:
    op = ledger.invoke("cancel", key="c", order_id="o-resolved-cancelled")
    ledger.complete(op, "info")
    ledger.resolved({"op": op.op, "type": "cancel", "order_id": "o-resolved-cancelled"}, "ok")
    place("k-unknown", "info", None)
    place("k-never-answered", "invoke", None)
    return out


def test_the_ledger_shows_which_orders_are_left_in_the_oms() -> None:
    left = leftover_orders(ledger_records())
    assert left.confirmed == {
        "o-confirmed": "loc-1", "o-store": "store-1", "o-cancel-unknown": "loc-1",
        "o-cancel-refused": "loc-1", "o-resolved": "loc-2",
    }  # fmt: skip
    assert [r["key"] for r in left.unknown] == ["k-unknown", "k-never-answered"]


class FakeOms:
    """Answers ``cancel_order`` per order (an ``Outcome`` or an exception to raise), and
    ``order_by_key`` per key; records every call."""

    def __init__(self, cancels: dict[str, Outcome | Exception] | None = None,
                 keys: dict[str, Outcome | Exception] | None = None) -> None:  # fmt: skip
        self.cancels = cancels or {}
        self.keys = keys or {}
        self.calls: list[tuple[str, str]] = []

    def cancel_order(self, order_id: str, location: str | None) -> Outcome:
        self.calls.append(("cancel", order_id))
        answer = self.cancels.get(order_id, Outcome("ok", order_id, location))
        if isinstance(answer, Exception):
            raise answer
        return answer

    def order_by_key(self, key: str) -> Outcome:
        self.calls.append(("key", key))
        answer = self.keys.get(key, Outcome("fail", reason="no such order"))
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_every_order_left_is_cancelled_and_recorded() -> None:
    oms, written = FakeOms(), list[dict[str, Any]]()
    report = cleanup_orders(Leftovers({"o-1": "loc-1", "o-2": "store-1"}), oms,  # type: ignore[arg-type]
                            record=written.append)  # fmt: skip
    assert report == CleanupReport(found=2, cancelled=("o-1", "o-2"))
    assert (
        report.exit_code == 0 and report.summary() == "cleanup: cancelled 2 of the run's 2 orders"
    )
    assert [(r["order_id"], r["location"], r["result"]) for r in written] == [
        ("o-1", "loc-1", "cancelled"), ("o-2", "store-1", "cancelled"),
    ]  # fmt: skip


def test_an_answer_already_cancelled_counts_as_done() -> None:
    oms = FakeOms({"o-1": Outcome("fail", "o-1", reason="already_cancelled")})
    report = cleanup_orders(Leftovers({"o-1": None}), oms)  # type: ignore[arg-type]
    assert report.cancelled == ("o-1",) and report.exit_code == 0


def test_what_cannot_be_cancelled_is_named_with_why_and_exits_1() -> None:
    oms = FakeOms({
        "o-2": Outcome("fail", "o-2", reason="http 409: a shipped order cannot be cancelled"),
        "o-3": Outcome("info", "o-3", reason="http 503"),
        "o-4": httpx.ReadTimeout("timed out"),
    })  # fmt: skip
    report = cleanup_orders(Leftovers(dict.fromkeys(["o-1", "o-2", "o-3", "o-4"])), oms)  # type: ignore[arg-type]
    assert report.cancelled == ("o-1",)
    assert report.failed == (
        NotCancelled("o-2", None, "http 409: a shipped order cannot be cancelled"),
        NotCancelled("o-3", None, "outcome unknown: http 503"),
        NotCancelled("o-4", None, "no answer: ReadTimeout: timed out"),
    )
    assert report.exit_code == 1
    assert (
        report.summary() == "cleanup: cancelled 1 of the run's 4 orders; 3 could not be cancelled"
    )


def test_an_oms_that_never_answers_is_given_up_on_and_exits_3() -> None:
    orders = [f"o-{i}" for i in range(10)]
    oms = FakeOms(dict.fromkeys(orders, httpx.ConnectError("refused")))
    report = cleanup_orders(Leftovers(dict.fromkeys(orders)), oms)  # type: ignore[arg-type]
    assert len(oms.calls) == UNANSWERED_IN_A_ROW  # not one timeout per order
    assert len(report.failed) == 10 and report.unreachable and report.exit_code == 3
    assert report.failed[-1].reason == "not tried: the oms stopped answering"
    assert report.summary().endswith("the oms did not answer: 10 orders are left")


def test_an_adapter_bug_stops_cleanup_and_is_reported() -> None:
    oms = FakeOms({"o-1": KeyError("status")})
    report = cleanup_orders(Leftovers(dict.fromkeys(["o-1", "o-2"])), oms)  # type: ignore[arg-type]
    assert [f.reason for f in report.failed] == [
        "the adapter raised KeyError: 'status'",
        "not tried: the adapter raised KeyError: 'status'",
    ]
    assert oms.calls == [("cancel", "o-1")] and report.exit_code == 3  # nothing answered


def test_places_of_unknown_outcome_are_asked_about_and_cancelled_if_placed() -> None:
    oms = FakeOms(keys={
        "k-placed": Outcome("ok", "o-placed", "loc-2"),
        "k-still-unknown": Outcome("info", reason="order pending"),
    })  # fmt: skip
    unknown = [{"key": "k-placed"}, {"key": "k-never-placed"}, {"key": "k-still-unknown"}]
    report = cleanup_orders(Leftovers({}, unknown), oms)  # type: ignore[arg-type]
    assert report.cancelled == ("o-placed",)
    assert report.failed == (
        NotCancelled("key k-still-unknown", None, "placed or not is unknown: order pending"),
    )


def test_the_time_budget_stops_cleanup_and_says_what_is_left() -> None:
    ticks = iter([0.0, 1.0, 11.0, 12.0])
    report = cleanup_orders(Leftovers(dict.fromkeys(["o-1", "o-2", "o-3"])), FakeOms(),  # type: ignore[arg-type]
                            clock=lambda: next(ticks), budget_s=10.0)  # fmt: skip
    assert report.cancelled == ("o-1",)
    assert {f.reason for f in report.failed} == {"not tried: the cleanup's 10 s were spent"}


def make_run(tmp_path: Path) -> RunDir:
    run = RunDir.create(tmp_path, "run-1", plan={}, git_sha=None)
    with run.appender(LEDGER_FILE) as out:
        for record in ledger_records():
            out.append(record)
    return run


def test_a_second_cleanup_finds_nothing_left(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    oms = FakeOms({"o-cancel-refused": Outcome("fail", reason="http 409")})
    first = cleanup_run(run, oms)  # type: ignore[arg-type]
    assert sorted(first.cancelled) == ["o-cancel-unknown", "o-confirmed", "o-resolved", "o-store"]
    assert [f.order_id for f in first.failed] == ["o-cancel-refused"]

    oms.cancels.clear()  # the refusal is gone: it is retried; the rest are done
    oms.calls.clear()
    second = cleanup_run(run, oms)  # type: ignore[arg-type]
    assert second.cancelled == ("o-cancel-refused",) and second.earlier == 4
    assert [c for c in oms.calls if c[0] == "cancel"] == [("cancel", "o-cancel-refused")]
    assert second.summary() == (
        "cleanup: cancelled 1 of the run's 5 orders (4 more were cancelled by an earlier cleanup)"
    )

    third = cleanup_run(run, oms)  # type: ignore[arg-type]
    assert (third.cancelled, third.failed, third.earlier, third.exit_code) == ((), (), 5, 0)
    results = [r["result"] for r in run.records(CLEANUP_FILE)]
    assert results.count("cancelled") == 5 and results.count("failed") == 1


def test_a_run_without_orders_has_nothing_to_clean_up(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path, "run-1", plan={}, git_sha=None)
    report = cleanup_run(run, FakeOms())  # type: ignore[arg-type]
    assert report.exit_code == 0
    assert report.summary() == "cleanup: the run left no confirmed order in the oms"


@pytest.mark.parametrize(
    ("event", "fields", "note"),
    [
        ("cleanup_finished", {"summary": "cleanup: cancelled 2 of the run's 2 orders"},
         "cleanup: cancelled 2 of the run's 2 orders"),
        ("cleanup_finished", {"summary": "cleanup: cancelled 1 of the run's 2 orders; 1 could "
                              "not be cancelled", "failed": 1},
         "cleanup: cancelled 1 of the run's 2 orders; 1 could not be cancelled (see cleanup.jsonl; "
         "retry with: peakops cleanup {run})"),
        ("cleanup_failed", {"error": "target.adapterOptions.token: environment variable T is "
                            "not set"},
         "cleanup failed: target.adapterOptions.token: environment variable T is not set (see "
         "cleanup.jsonl; retry with: peakops cleanup {run})"),
    ],
    ids=["what cleanup did", "what cleanup left, and how to retry", "why cleanup could not start"],
)  # fmt: skip
def test_the_cleanup_note_reads_the_timeline(
    tmp_path: Path, event: str, fields: dict[str, Any], note: str
) -> None:
    run = RunDir.create(tmp_path, "run-1", plan={}, git_sha=None)
    assert cleanup_note(run) is None
    EventLog(run, source="rehearsal").emit(event, **fields)
    assert cleanup_note(run) == note.format(run=run.path)
