"""The gate's notes for a url target: the cleanup's outcome and an API mismatch are said
under the verdict, and never change it; re-gating from another path writes the same
files."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from collectors.mismatch import API_MISMATCH_EVENT
from collectors.rundir import EventLog, RunDir
from rollout.gate import gate_run
from slo.runfiles import VERDICT_FILE
from tests.rollout.test_gate import record_run

LEFT = {"summary": "cleanup: cancelled 1 of the run's 2 orders; 1 could not be cancelled",
        "found": 2, "cancelled": 1, "failed": 1}  # fmt: skip


@pytest.mark.parametrize(
    ("event", "fields", "note"),
    [
        ("cleanup_finished", {"summary": "cleanup: cancelled 2 of the run's 2 orders",
                              "failed": 0}, "cleanup: cancelled 2 of the run's 2 orders"),
        ("cleanup_finished", LEFT,
         "cleanup: cancelled 1 of the run's 2 orders; 1 could not be cancelled (see "
         "cleanup.jsonl; retry with: peakops cleanup RUN_DIR)"),
        ("cleanup_failed", {"error": "target.adapterOptions.token: environment variable T is "
                            "not set"},
         "cleanup failed: target.adapterOptions.token: environment variable T is not set (see "
         "cleanup.jsonl; retry with: peakops cleanup RUN_DIR)"),
    ],
    ids=["everything cancelled", "an order left, and how to retry", "cleanup could not start"],
)  # fmt: skip
def test_the_cleanup_outcome_is_the_last_note_and_never_the_verdict(
    tmp_path: Path, event: str, fields: dict[str, Any], note: str
) -> None:
    clean_run, plan = record_run(tmp_path / "a", latency_s=0.020)
    clean = gate_run(clean_run, plan).verdict
    run, _ = record_run(tmp_path / "b", latency_s=0.020)
    EventLog(run, source="rehearsal").emit(event, **fields)
    verdict = gate_run(run, plan).verdict
    assert verdict.reasons[-1] == note
    assert (verdict.status, verdict.exit_code) == (clean.status, clean.exit_code)
    assert verdict.evaluations == clean.evaluations


def test_an_api_mismatch_is_said_under_the_verdict_and_changes_nothing_else(
    tmp_path: Path,
) -> None:
    clean_run, plan = record_run(tmp_path / "a", latency_s=0.020)
    clean = gate_run(clean_run, plan).verdict
    run, _ = record_run(tmp_path / "b", latency_s=0.020)
    EventLog(run, source="load").emit(API_MISMATCH_EVENT, message="20 of the first 20 ...")
    verdict = gate_run(run, plan).verdict
    note = "load stopped early: 20 of the first 20 ..."
    assert note in verdict.reasons
    assert tuple(r for r in verdict.reasons if r != note) == clean.reasons
    assert (verdict.status, verdict.exit_code) == (clean.status, clean.exit_code)


def test_regating_a_moved_run_writes_the_same_verdict(tmp_path: Path) -> None:
    run, plan = record_run(tmp_path / "here", latency_s=0.020)
    EventLog(run, source="rehearsal").emit("cleanup_finished", **LEFT)
    gate_run(run, plan)
    moved = RunDir(Path(shutil.copytree(run.path, tmp_path / "elsewhere" / "run-1")))
    gate_run(moved, plan)
    assert moved.file(VERDICT_FILE).read_bytes() == run.file(VERDICT_FILE).read_bytes()
