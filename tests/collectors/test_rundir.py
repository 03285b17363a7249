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


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"plan": {}}, "no format_version: not a peakops header"),
        ({"format_version": True, "plan": {}}, "unsupported format_version True"),
        ({"format_version": 1.0, "plan": {}}, "unsupported format_version 1.0"),
        ({"format_version": "1", "plan": {}}, "unsupported format_version '1'"),
        ([1], "corrupt header: expected a JSON object"),
    ],
    ids=[
        "no format_version",
        "format_version true (which equals 1 in Python)",
        "format_version 1.0",
        "format_version as text",
        "a header that is a list",
    ],
)
def test_a_header_of_the_wrong_shape_is_refused(
    tmp_path: Path, header: object, message: str
) -> None:
    run = make_run(tmp_path)
    run.file("run.json").write_text(json.dumps(header))
    with pytest.raises(RunDirError, match=message):
        RunDir.open(run.path)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (None, r"run\.json: no plan snapshot \(field 'plan' is missing\)"),
        ("peak.yaml", r"run\.json: field 'plan': expected an object, got 'peak\.yaml'"),
    ],
    ids=["no plan", "a plan that is not an object"],
)
def test_a_header_without_its_plan_snapshot_names_the_file(
    tmp_path: Path, plan: object, message: str
) -> None:
    run = make_run(tmp_path)
    header = run.header()
    if plan is None:
        del header["plan"]
    else:
        header["plan"] = plan
    run.write_header(header)
    with pytest.raises(RunDirError, match=message):
        run.plan_snapshot()


def test_a_header_that_is_not_utf8_is_corrupt(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    run.file("run.json").write_bytes(b'{"format_version": 1, "plan": "\xff"}')
    with pytest.raises(RunDirError, match="corrupt header"):
        RunDir.open(run.path)


@pytest.mark.parametrize("name", ["run.json", EVENTS_FILE], ids=["the header", "a stream"])
def test_a_directory_where_a_file_should_be_is_reported_not_raised(
    tmp_path: Path, name: str
) -> None:
    run = make_run(tmp_path)
    run.file(name).unlink(missing_ok=True)
    run.file(name).mkdir()
    with pytest.raises(RunDirError, match=rf"{name}: cannot read"):
        run.header() if name == "run.json" else run.events()


def test_a_file_the_gate_cannot_write_is_reported_not_raised(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    run.file("verdict.json").mkdir()
    with pytest.raises(RunDirError, match=r"verdict\.json: cannot write"):
        run.write_json("verdict.json", {"status": "pass"})
    assert not list(run.path.glob(".verdict.json.tmp-*"))


@pytest.mark.parametrize(
    ("content", "records", "error"),
    [
        (b'{"type": "a"}\n\xff\xfe{"type": "b"}\n{"type": "c"}\n', None, "events.jsonl:2: corrupt"),
        (b'{"type": "a"}\n[1, 2]\n', None, r"events\.jsonl:2: expected a JSON object"),
        (b'{"type": "a"}\n\x00\xff\xfe garbage', ["a"], None),
        (b'{"type": "a"}\n{"type": "b"', ["a"], None),
        (b'{"type": "a"}\n\n   \n{"type": "b"}\n', ["a", "b"], None),
    ],
    ids=[
        "bytes that are not UTF-8 in the middle",
        "a line that is JSON but not an object",
        "a last line of garbage without newline (torn)",
        "a torn last record",
        "blank lines",
    ],
)
def test_reading_a_stream_skips_only_a_torn_last_line(
    tmp_path: Path, content: bytes, records: list[str] | None, error: str | None
) -> None:
    run = make_run(tmp_path)
    run.file(EVENTS_FILE).write_bytes(content)
    if error is not None:
        with pytest.raises(RunDirError, match=error):
            run.events()
    else:
        assert [e["type"] for e in run.events()] == records
