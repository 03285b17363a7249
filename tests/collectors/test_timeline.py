"""The timeline: events checked as they are read, and fault windows from the chaos journals
when ``events.jsonl`` lost them (or unknown, when nothing shows them)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.rundir import RunDir
from collectors.timeline import FROM_EVENTS, FROM_JOURNALS, read_timeline, run_timeline
from slo.errors import RunDirError
from slo.runfiles import EVENTS_FILE, chaos_journal
from slo.timeline import FaultWindow

Record = dict[str, Any]


def iso(ts: float, *, zone: bool = True) -> str:
    moment = datetime.fromtimestamp(ts, tz=UTC)
    return (moment if zone else moment.replace(tzinfo=None)).isoformat()


def activity(name: str, end: float, output: Record, status: str = "succeeded") -> Record:
    return {"activity": {"type": "action", "name": name}, "status": status,
            "start": iso(end - 0.05), "end": iso(end), "output": output}  # fmt: skip


def started(fault: str, fault_id: str, expires: float | None = None) -> Record:
    output: Record = {"event": "fault_started", "fault": fault, "id": fault_id, "dry_run": False}
    if expires is not None:
        output["expires_ts"] = expires
    return output


def stopped(fault: str) -> Record:
    return {"event": "fault_stopped", "fault": fault, "dry_run": False}


def journal(run: RunDir, index: int, experiment: str, *, run_: list[Record],
            rollbacks: list[Record] | None = None) -> None:  # fmt: skip
    data = {"status": "completed", "run": run_, "rollbacks": rollbacks or []}
    run.file(chaos_journal(index, experiment)).write_text(json.dumps(data))


def events(run: RunDir, *records: Record) -> None:
    run.file(EVENTS_FILE).write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    return RunDir.create(tmp_path, "r1", plan={}, git_sha=None)


LOAD = [{"ts": 1000.0, "type": "load_started"}, {"ts": 1060.0, "type": "load_finished"}]
CUT = [
    {"ts": 1010.0, "type": "fault_started", "fault": "network-cut", "id": "n1",
     "expires_ts": 1017.0},
    {"ts": 1012.0, "type": "fault_stopped", "fault": "network-cut", "id": "n1"},
]  # fmt: skip


def test_fault_windows_come_from_the_events_when_they_have_them(run: RunDir) -> None:
    events(run, *LOAD, *CUT)
    journal(run, 1, "network-cut", run_=[activity("start", 1500.0, started("network-cut", "x"))])
    timeline = run_timeline(run, ["network-cut"])
    assert timeline.faults == (FaultWindow("network-cut", 1010.0, 1012.0, stopped=True),)
    assert (timeline.fault_source, timeline.faults_known, timeline.notes) == (FROM_EVENTS, True, ())


@pytest.mark.parametrize(
    "recorded",
    [[], LOAD, None],
    ids=["events.jsonl is empty", "events.jsonl has no fault event", "events.jsonl is missing"],
)
def test_fault_windows_are_read_from_the_journals_when_the_events_lost_them(
    run: RunDir, recorded: list[Record] | None
) -> None:
    if recorded is None:
        run.file(EVENTS_FILE).unlink(missing_ok=True)
    else:
        events(run, *recorded)
    journal(run, 1, "kill-replica", run_=[
        activity("kill", 1008.0, started("kill-replica", "k1", expires=1013.0)),
        activity("await-recovery", 1009.5, stopped("kill-replica")),
    ], rollbacks=[activity("await-recovery", 1030.0, stopped("kill-replica"))])  # fmt: skip
    journal(run, 2, "network-cut", run_=[
        activity("start", 1010.0, started("network-cut", "n1", expires=1017.0)),
        activity("heal", 1012.0, stopped("network-cut"), status="failed"),
    ], rollbacks=[activity("heal", 1040.0, stopped("network-cut"))])  # fmt: skip
    timeline = run_timeline(run, ["kill-replica", "network-cut"])
    assert timeline.faults == (
        FaultWindow("kill-replica", 1008.0, 1009.5, stopped=True),
        FaultWindow("network-cut", 1010.0, 1040.0, stopped=True),  # the rollback healed it
    )
    assert timeline.fault_source == FROM_JOURNALS and timeline.faults_known
    assert not timeline.drift_faults_known  # the drift checker reads events.jsonl alone
    (note,) = timeline.notes
    assert note.startswith("fault windows read from the chaos journals (chaos-1-kill-replica")
    assert timeline.events == len(recorded or [])


def test_a_journal_fault_never_stopped_lasts_until_its_lease_expiry(run: RunDir) -> None:
    journal(run, 1, "network-cut", run_=[
        activity("start", 1010.0, started("network-cut", "n1", expires=1017.0)),
    ])  # fmt: skip
    (span,) = run_timeline(run, ["network-cut"]).spans
    assert (span.id, span.start, span.stopped, span.end) == ("n1", 1010.0, None, 1017.0)


def test_a_journal_time_without_a_zone_is_utc(run: RunDir) -> None:
    kill = activity("kill", 0, started("kill-replica", "k1", expires=1013.0))
    kill["end"] = iso(1008.0, zone=False)
    journal(run, 1, "kill-replica", run_=[kill])
    assert run_timeline(run, ["kill-replica"]).faults[0].start == 1008.0


def skip_first(run: RunDir) -> None:
    events(run, *LOAD, {"ts": 1050.0, "type": "chaos_skipped", "index": 1,
                        "experiment": "network-cut", "reason": "the load ended first"})  # fmt: skip


def skip_first_and_journal_second(run: RunDir) -> None:
    skip_first(run)
    journal(run, 2, "kill-replica", run_=[])


@pytest.mark.parametrize(
    ("setup", "known", "words"),
    [
        (None, False, "nothing shows that chaos step 1 (network-cut), 2 (kill-replica)"),
        (skip_first, False, "chaos step 2 (kill-replica) injected none"),
        (skip_first_and_journal_second, True, None),
    ],
    ids=[
        "no events, no journal: unknown",
        "one step skipped, the other unaccounted for: unknown",
        "one step skipped, the other left a journal without a fault: known, none",
    ],
)
def test_without_any_fault_event_the_windows_are_known_only_if_nothing_could_inject(
    run: RunDir, setup: Callable[[RunDir], None] | None, known: bool, words: str | None
) -> None:
    run.file(EVENTS_FILE).unlink(missing_ok=True)
    if setup is not None:
        setup(run)
    timeline = run_timeline(run, ["network-cut", "kill-replica"])
    assert (timeline.faults, timeline.faults_known, timeline.fault_source) == ((), known, None)
    if words is None:
        assert timeline.notes == ()
    else:
        (note,) = timeline.notes
        assert note.startswith("fault windows unknown: neither events.jsonl nor a chaos journal")
        assert words in note


def test_a_run_whose_plan_scheduled_no_chaos_has_known_fault_windows_even_without_events(
    run: RunDir,
) -> None:
    run.file(EVENTS_FILE).unlink(missing_ok=True)
    timeline = run_timeline(run, [])
    assert timeline.faults_known and timeline.faults == () and timeline.events == 0


@pytest.mark.parametrize(
    ("record", "words"),
    [
        ({"type": "load_started"}, "missing field 'ts'"),
        ({"ts": None, "type": "load_started"}, "field 'ts': expected a Unix time"),
        ({"ts": "soon", "type": "load_started"},
         "field 'ts': expected a Unix time in seconds, got 'soon'"),
        ({"ts": float("nan"), "type": "load_started"}, "field 'ts'"),
        ({"ts": -5.0, "type": "load_started"}, "field 'ts'"),
        ({"ts": 1e300, "type": "load_started"}, "field 'ts'"),
        ({"ts": 1.0, "type": 7}, "field 'type': expected a string"),
        ({"ts": 1.0, "type": "fault_started", "fault": "cut"}, "missing field 'id'"),
        ({"ts": 1.0, "type": "fault_started", "fault": "", "id": "a"}, "a fault name"),
        ({"ts": 1.0, "type": "fault_started", "fault": "cut", "id": [1]}, "field 'id'"),
        ({"ts": 1.0, "type": "fault_started", "fault": "cut", "id": "a", "expires_ts": "x"},
         "field 'expires_ts'"),
        ({"ts": 1.0, "type": "chaos_finished", "index": 1, "exit_code": "many"},
         "field 'exit_code': expected a whole number, got 'many'"),
        ({"ts": 1.0, "type": "chaos_started", "index": 0}, "a step number from 1"),
        ({"ts": 1.0, "type": "load_finished", "interrupted": "no"}, "expected true or false"),
        ({"ts": 1.0, "type": "probes_finished", "probe_reads": -3}, "field 'probe_reads'"),
        ({"ts": 1.0, "type": "unknown_resolved", "unknown": 1.5}, "field 'unknown'"),
        ({"ts": 1.0, "type": "chaos_halted", "burn_rate": "hot"}, "field 'burn_rate'"),
        ({"ts": 1.0, "type": "probe_failed", "error": "\ud800"}, "valid Unicode"),
    ],
    ids=lambda value: str(value)[:60] if isinstance(value, dict) else None,
)  # fmt: skip
def test_an_event_without_the_fields_its_type_promises_names_file_and_line(
    run: RunDir, record: Record, words: str
) -> None:
    events(run, LOAD[0], record, LOAD[1])
    with pytest.raises(RunDirError) as raised:
        run_timeline(run)
    assert str(raised.value).startswith(f"{run.file(EVENTS_FILE)}:2: ")
    assert words in str(raised.value)


def test_events_of_types_the_gate_does_not_read_keep_their_own_fields(run: RunDir) -> None:
    events(run, *LOAD, {"ts": 1001.0, "type": "target_ready", "url": 5, "kind": None})
    assert run_timeline(run).load_start == 1000.0


def test_a_torn_last_event_is_skipped(run: RunDir) -> None:
    events(run, *LOAD)
    with run.file(EVENTS_FILE).open("a") as fh:
        fh.write('{"ts": 1061.0, "type": "verd')
    assert run_timeline(run).events == 2


def test_events_given_as_records_are_checked_too() -> None:
    with pytest.raises(RunDirError, match=r"^event 2: field 'index'"):
        read_timeline([LOAD[0], {"ts": 1.0, "type": "chaos_started", "index": "one"}])


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"run": [', "corrupt chaos journal"),
        ("[1, 2]", "corrupt chaos journal: expected a JSON object"),
        ('{"run": "all"}', "field 'run': expected a list"),
        ('{"run": [5]}', "run[0]: expected an activity object"),
    ],
    ids=["not JSON", "not an object", "run is not a list", "an activity is not an object"],
)
def test_a_journal_that_cannot_be_read_names_the_file(
    run: RunDir, content: str, words: str
) -> None:
    events(run, *LOAD)
    path = run.file(chaos_journal(1, "network-cut"))
    path.write_text(content)
    with pytest.raises(RunDirError) as raised:
        run_timeline(run, ["network-cut"])
    assert str(raised.value).startswith(str(path)) and words in str(raised.value)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda a: a.update(end="yesterday"), "field 'end': expected an ISO 8601 time"),
        (lambda a: a.pop("end"), "field 'end'"),
        (lambda a: a.update(end="1900-01-01T00:00:00"), "expected a time after 1970"),
        (lambda a: a["output"].update(id=None), "field 'id'"),
        (lambda a: a["output"].update(fault=5), "field 'fault'"),
        (lambda a: a["output"].update(expires_ts="soon"), "field 'expires_ts'"),
    ],
    ids=["end is not a time", "end is missing", "end before 1970", "no fault id",
         "the fault is a number", "expires_ts is text"],
)  # fmt: skip
def test_a_fault_activity_without_its_fields_names_the_journal_and_the_activity(
    run: RunDir, change: Any, words: str
) -> None:
    start = activity("start-network-cut", 1010.0, started("network-cut", "n1", expires=1017.0))
    change(start)
    journal(run, 1, "network-cut", run_=[start])
    with pytest.raises(RunDirError) as raised:
        run_timeline(run, ["network-cut"])
    message = str(raised.value)
    assert message.startswith(f"{run.file(chaos_journal(1, 'network-cut'))}: run[0] ")
    assert "(start-network-cut)" in message and words in message
