"""The load session's API-mismatch watch: what a process does on the answer that trips it.

No Locust: sessions are built as the locustfile builds them, their hooks (``stop`` for
the writing process, ``notify`` for a worker) replaced by recorders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collectors.adapter import Outcome
from collectors.mismatch import API_MISMATCH_EVENT
from collectors.rundir import RunDir
from scenarios.session import PLAN_POINTER, LoadSession
from slo.loader import load_plan_text
from slo.plan import plan_snapshot

PLACE = "POST /orders"
REFUSED = Outcome("fail", reason="http 422")

PLAN = """\
apiVersion: peakops/v1
target:
{target}load: {{profile: constant, duration: 10s, baseline: 60}}
slos:
  objectives:
    - {{id: errors, kind: error_ratio, max: 0.01}}
"""
URL_TARGET = "  kind: url\n  baseUrl: http://127.0.0.1:9\n  skus: [SKU-1, SKU-2]\n"


def session(tmp_path: Path, *, buffered: bool = False, target: str = URL_TARGET) -> LoadSession:
    plan = load_plan_text(PLAN.format(target=target), "peak.yaml")
    run = RunDir.create(tmp_path, "run-1", plan=plan_snapshot(plan), git_sha=None)
    built = LoadSession(run, plan, source="worker-1" if buffered else "load", buffered=buffered)
    built.skus_source = "target.skus"
    return built


def mismatch_events(s: LoadSession) -> list[dict[str, Any]]:
    return [e for e in s.run.events() if e["type"] == API_MISMATCH_EVENT]


def test_the_writing_process_says_it_once_and_stops_the_load(tmp_path: Path) -> None:
    s = session(tmp_path)
    stops: list[bool] = []
    s.stop = lambda: stops.append(True)
    for _ in range(60):
        s.answered(PLACE, 422, REFUSED)
    (event,) = mismatch_events(s)
    assert stops == [True]
    assert (event["answered"], event["mismatched"], event["statuses"]) == (20, 20, {"422": 20})
    assert event["seen_by"] == "load" and event["source"] == "load"
    assert event["message"] == (
        "20 of the first 20 order operations (100%) were answered 422 (POST /orders): likely a "
        "wrong catalog: the skus of target.skus are not this oms's (or the adapter does not "
        f"match its api); run `peakops target check --plan {PLAN_POINTER}`"
    )


def test_a_worker_tells_its_master_and_writes_nothing(tmp_path: Path) -> None:
    s = session(tmp_path, buffered=True)
    told: list[dict[str, Any]] = []
    s.notify = told.append
    for _ in range(30):
        s.answered(PLACE, 404, Outcome("fail", reason="http 404"))
    (fields,) = told
    assert fields["seen_by"] == "worker-1" and "target check" in fields["message"]
    assert mismatch_events(s) == []


def test_the_master_writes_what_two_workers_saw_once(tmp_path: Path) -> None:
    master = session(tmp_path)
    stops: list[bool] = []
    master.stop = lambda: stops.append(True)
    master.mismatched({"seen_by": "worker-0", "message": "m0"})
    master.mismatched({"seen_by": "worker-1", "message": "m1"})
    (event,) = mismatch_events(master)
    assert event["seen_by"] == "worker-0" and stops == [True]


def test_a_worker_without_a_way_to_its_master_fails_loudly(tmp_path: Path) -> None:
    s = session(tmp_path, buffered=True)
    with pytest.raises(RuntimeError, match="no way to tell its master"):
        for _ in range(20):
            s.answered(PLACE, 404, None)  # type: ignore[arg-type]


def test_answers_of_a_matching_oms_never_stop_the_load(tmp_path: Path) -> None:
    s = session(tmp_path)
    s.stop = lambda: pytest.fail("stopped a matching oms")
    for _ in range(10):
        s.answered(PLACE, 202, Outcome("ok", "o-1", "dc"))
        s.answered(PLACE, 410, Outcome("fail", reason="out_of_stock"))
        s.answered(PLACE, 0, Outcome("info", reason="transport"))
    assert mismatch_events(s) == []


def test_the_embedded_oms_is_not_watched(tmp_path: Path) -> None:
    s = session(tmp_path, target="  kind: embedded\n")
    assert s.mismatch is None
    for _ in range(50):
        s.answered(PLACE, 404, None)  # type: ignore[arg-type]
    assert mismatch_events(s) == []
