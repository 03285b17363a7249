"""The run directory: header round trip, append-only streams, and crash tolerance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collectors.rundir import EventLog, RunDir
from slo.conventions import RUN_FORMAT_VERSION
from slo.errors import RunDirError
from slo.runfiles import EVENTS_FILE, LATENCY_FILE


def make_run(tmp_path: Path) -> RunDir:
    return RunDir.create(tmp_path, "r1", plan={"name": "p"}, git_sha="abc123")


def test_a_new_run_directory_has_a_versioned_header(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    header = RunDir.open(run.path).header()
    assert header["format_version"] == RUN_FORMAT_VERSION
    assert header["plan"] == {"name": "p"}
    assert header["git_sha"] == "abc123"
    assert header["status"] == "running" and header["ended_at"] is None
    run.finish("pass")
    assert run.header()["status"] == "pass" and run.header()["ended_at"]


def test_events_are_appended_in_order_with_a_timestamp(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    log = EventLog(run, source="test")
    log.emit("load_started", rate=5)
    log.emit("load_finished")
    events = run.events()
    assert [e["type"] for e in events] == ["load_started", "load_finished"]
    assert events[0]["rate"] == 5 and events[0]["ts"] <= events[1]["ts"]


def test_two_writers_never_interleave_within_a_line(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    a, b = run.appender(LATENCY_FILE), run.appender(LATENCY_FILE)
    for i in range(200):
        (a if i % 2 else b).append({"i": i, "pad": "x" * 500})
    assert sorted(r["i"] for r in run.records(LATENCY_FILE)) == list(range(200))


def test_a_torn_last_line_from_a_killed_writer_is_skipped(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    run.appender(EVENTS_FILE).append({"type": "a", "ts": 1})
    with run.file(EVENTS_FILE).open("a") as fh:
        fh.write('{"type": "b", "ts"')
    assert [e["type"] for e in run.events()] == ["a"]


def test_a_corrupt_line_in_the_middle_names_file_and_line(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    run.file(EVENTS_FILE).write_text('{"type": "a"}\nnot json\n{"type": "b"}\n')
    with pytest.raises(RunDirError, match=r"events\.jsonl:2: corrupt record"):
        run.events()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "no such run directory"),
        (lambda p: p.mkdir(), "missing: not a peakops run directory"),
        (lambda p: (p.mkdir(), (p / "run.json").write_text("{")), "corrupt header"),
        (
            lambda p: (p.mkdir(), (p / "run.json").write_text(json.dumps({"format_version": 99}))),
            "unsupported format_version 99",
        ),
    ],
    ids=[
        "a path that does not exist",
        "a directory without run.json",
        "a run.json that is not JSON",
        "a run.json from a newer peakops",
    ],
)
def test_opening_something_that_is_not_a_run_directory_fails_clearly(
    tmp_path: Path, setup: object, message: str
) -> None:
    path = tmp_path / "run"
    setup(path)  # type: ignore[operator]
    with pytest.raises(RunDirError, match=message):
        RunDir.open(path)


def test_creating_a_run_that_exists_is_refused(tmp_path: Path) -> None:
    make_run(tmp_path)
    with pytest.raises(RunDirError, match="cannot create run directory"):
        make_run(tmp_path)
