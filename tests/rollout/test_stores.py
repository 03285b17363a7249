"""The gate's store-outage figures: reconcile.json and the verdict lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collectors.rundir import RunDir
from rollout.stores import check_stores, outage_lines
from slo.errors import RunDirError
from slo.runfiles import RECONCILE_FILE, STORES_FILE


def test_a_run_without_stores_has_no_store_figures(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path, "r1", plan={}, git_sha=None)
    assert check_stores(run) is None
    assert not run.file(RECONCILE_FILE).exists()


def test_each_outage_becomes_a_line_and_an_entry_of_reconcile_json(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path, "r1", plan={}, git_sha=None)
    events = run.appender("events.jsonl")
    events.append({"ts": 1000.0, "type": "load_started"})
    events.append({"ts": 1020.0, "type": "fault_started", "fault": "store-offline", "id": "s"})
    events.append({"ts": 1030.0, "type": "fault_stopped", "id": "s"})
    polls = run.appender(STORES_FILE)
    for t, pending, units, drained in ((1025.0, 4, 9, None), (1030.5, 0, 0, 1030.25)):
        polls.append({"t": t, "store": "store-1", "online": not pending, "pending": pending,
                      "pending_units": units, "forwarded_total": 0,
                      "last_drained_at": drained})  # fmt: skip
    outages = check_stores(run)
    assert outages is not None
    (entry,) = json.loads(run.file(RECONCILE_FILE).read_text())["outages"]
    assert entry["peak_pending_units"] == 9 and entry["reconcile_s"] == 0.25
    (line,) = outage_lines(outages, None, 1000.0)
    assert line == (
        "store outage 20.0s\N{EN DASH}30.0s: up to 9 units sold offline and not yet in the "
        "source of truth; reconciled 250 ms after the link came back"
    )


def test_a_stores_file_without_a_poll_is_no_store_watched(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path, "r1", plan={}, git_sha=None)
    run.file(STORES_FILE).write_text("")
    assert check_stores(run) is None


def test_a_poll_of_the_wrong_shape_names_file_and_line(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path, "r1", plan={}, git_sha=None)
    run.file(STORES_FILE).write_text(
        '{"t": 1.0, "store": "store-1", "pending": 0}\n{"t": 2.0, "store": "store-1", '
        '"pending": "lots"}\n'
    )
    with pytest.raises(RunDirError, match=r"stores\.jsonl:2: field 'pending'"):
        check_stores(run)
