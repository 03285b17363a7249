"""The live view's fold: a snapshot of a rehearsal from its records, as they are appended."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collectors.compress import compress_file
from collectors.latency import IntervalRecorder
from collectors.live_state import JsonlTail, LiveState, RunTail

T0 = 1000.0


def latency_records(seconds: range, *, ok_ms: float, fails: int = 0) -> list[dict[str, Any]]:
    """One POST /orders record a second: 10 successes of ``ok_ms``, ``fails`` failures."""
    out: list[dict[str, Any]] = []
    clock = [T0]
    recorder = IntervalRecorder(out.append, clock=lambda: clock[0])
    for second in seconds:
        for i in range(10 + fails):
            clock[0] = T0 + second + i / 100
            recorder.record("POST /orders", ok_ms / 1000, ok=i < 10)
    clock[0] = T0 + seconds.stop
    recorder.flush(final=True)
    return out


def load_record(second: int) -> dict[str, Any]:
    """20 arrivals planned, 19 sent, 1 dropped, 10 orders confirmed."""
    return {"t": T0 + second, "interval_s": 1.0, "source": "load", "arrivals_planned": 20,
            "arrivals_sent": 19, "arrivals_dropped": 1, "orders_confirmed": 10}  # fmt: skip


def event(type_: str, ts: float, **fields: Any) -> dict[str, Any]:
    return {"type": type_, "ts": ts, "source": "rehearsal", **fields}


def test_a_snapshot_sums_arrivals_and_judges_the_last_seconds_only() -> None:
    state = LiveState(60.0)
    state.add_events([event("rehearsal_started", T0 - 5),
                      event("load_started", T0, duration_s=30.0)])  # fmt: skip
    state.add_latency(latency_records(range(0, 5), ok_ms=500))  # slow, then out of the window
    state.add_latency(latency_records(range(5, 10), ok_ms=10, fails=1))
    state.add_load([load_record(s) for s in range(10)])
    snap = state.snapshot(T0 + 12)
    assert snap.phase == "flood" and snap.planned_s == 30.0 and snap.elapsed_s == 12.0
    assert (snap.arrivals_planned, snap.arrivals_sent, snap.arrivals_dropped) == (200, 190, 10)
    assert snap.window_s == 5.0
    assert snap.p95_ms == pytest.approx(10, rel=0.01)  # the 500 ms seconds are older than 5 s
    assert snap.error_ratio == pytest.approx(1 / 11)
    assert snap.orders_per_min == pytest.approx(600)  # 10 confirmed a second


def test_faults_are_active_until_stopped_or_their_lease_runs_out() -> None:
    state = LiveState(60.0)
    state.add_events([
        event("fault_started", T0 + 1, fault="kill-replica", id="a", expires_ts=T0 + 3),
        event("fault_started", T0 + 2, fault="network-cut", id="b", expires_ts=T0 + 50),
        event("fault_started", T0 + 2, fault="store-offline", id="c"),
        event("fault_stopped", T0 + 4, fault="store-offline", id="c"),
    ])  # fmt: skip
    snap = state.snapshot(T0 + 5)  # a's injector never stopped it: its lease ended at +3
    assert snap.faults == ("network-cut",) and snap.faults_ended == 2


def test_alerts_fire_and_resolve_by_alert_slo_and_labels() -> None:
    firing = {"alert": "PeakopsSLOBurnPageQuick", "slo": "errors", "severity": "page",
              "labels": {"slo": "errors"}}  # fmt: skip
    other = {**firing, "slo": "place-p99", "labels": {"slo": "place-p99"}}
    state = LiveState(60.0)
    state.add_events([event("alert_firing", T0, **firing), event("alert_firing", T0, **other)])
    assert state.snapshot(T0).alerts == ("PeakopsSLOBurnPageQuick (page)",) * 2
    state.add_events([event("alert_resolved", T0 + 1, **firing)])
    assert state.snapshot(T0 + 1).alerts == ("PeakopsSLOBurnPageQuick (page)",)


def test_the_phase_follows_the_timeline_to_the_verdict() -> None:
    state = LiveState(10.0)
    assert state.snapshot(T0).phase == "starting"
    state.add_events([event("load_started", T0, duration_s=10.0)])
    assert state.snapshot(T0 + 11).phase.startswith("flood done")
    verdict = event("verdict", T0 + 20, status="pass", exit_code=0)
    state.add_events([event("load_finished", T0 + 12), verdict])
    snap = state.snapshot(T0 + 30)
    assert snap.phase == "verdict: pass (exit 0)" and snap.elapsed_s == 12.0


@pytest.mark.parametrize(
    "record",
    [{"t": "soon", "ok": 1, "fail": 0, "hist": "x"}, {"t": T0, "ok": 1}, {"t": T0, "ok": 1,
     "fail": 0, "hist": 5}, {"t": T0, "interval_s": -1, "ok": 1, "fail": 0, "hist": "x"}],
    ids=["a time that is not a number", "a missing field", "a histogram that is not text",
         "a negative interval"],
)  # fmt: skip
def test_a_record_the_view_cannot_use_is_counted_not_raised(record: dict[str, Any]) -> None:
    state = LiveState(10.0)
    state.add_latency([record])
    snap = state.snapshot(T0)
    assert snap.skipped == 1 and snap.p95_ms is None and snap.error_ratio is None


def test_a_histogram_that_does_not_decode_is_left_out_of_the_p95() -> None:
    state = LiveState(10.0)
    state.add_latency([{"t": T0, "ok": 3, "fail": 1, "hist": "not base64"}])
    snap = state.snapshot(T0)
    assert snap.p95_ms is None and snap.error_ratio == 0.25


def test_the_tail_reads_only_complete_appended_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    tail = JsonlTail(path)
    assert tail.new() == []  # not written yet
    path.write_text('{"a": 1}\nnot json\n{"b": 2')
    assert tail.new() == [{"a": 1}] and tail.skipped == 1
    with path.open("a") as out:
        out.write("}\n")
    assert tail.new() == [{"b": 2}]
    assert tail.new() == []
    with path.open("a") as out:
        out.write('{"c": 3}\n')
    compress_file(path)  # the run ended: what was not read yet is read from the .gz
    assert tail.new() == [{"c": 3}]


def test_a_run_tail_follows_the_three_streams(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text(
        json.dumps(event("load_started", T0, duration_s=20.0)) + "\n")  # fmt: skip
    (tmp_path / "latency.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in latency_records(range(2), ok_ms=20)))  # fmt: skip
    (tmp_path / "load.jsonl").write_text(json.dumps(load_record(0)) + "\n{torn")
    snap = RunTail(tmp_path, LiveState(60.0)).poll(T0 + 2)
    assert snap.planned_s == 20.0 and snap.arrivals_sent == 19
    assert snap.p95_ms == pytest.approx(20, rel=0.01) and snap.skipped == 0
