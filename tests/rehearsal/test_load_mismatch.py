"""``run_load_process`` on an API mismatch: the rehearsal ends with exit 3 and the
event's message, and a load process that does not stop by itself is stopped.

The load process is a stand-in (a small Python child writing the run's timeline as the
locustfile would), so these take a second, not a flood's duration.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

import rehearsal.load as load
from collectors.mismatch import API_MISMATCH_EVENT
from collectors.rundir import RunDir
from slo.errors import InfraError
from slo.runfiles import EVENTS_FILE

MESSAGE = "20 of the first 20 order operations (100%) were answered 404 (POST /orders): ..."

CHILD = """\
import json, sys, time
with open(sys.argv[1], "a") as events:
    events.write(json.dumps({"ts": time.time(), "type": sys.argv[2], "message": sys.argv[3]}))
    events.write("\\n")
if sys.argv[4] == "hang":
    time.sleep(60)
"""


def stand_in(monkeypatch: pytest.MonkeyPatch, event: str, then: str) -> None:
    def command(run: RunDir, host: str, **_: object) -> list[str]:
        return [sys.executable, "-c", CHILD, str(run.file(EVENTS_FILE)), event, MESSAGE, then]

    monkeypatch.setattr(load, "locust_command", command)
    monkeypatch.setattr(load, "MISMATCH_STOP_S", 0.5)


@pytest.mark.integration
@pytest.mark.parallel  # judges no latency: runs beside other tests
@pytest.mark.parametrize(
    "then", ["exit", "hang"],
    ids=["the load process stopped itself", "a load process that hangs is stopped"],
)  # fmt: skip
def test_a_mismatch_ends_the_load_with_infra_error_and_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, then: str
) -> None:
    stand_in(monkeypatch, API_MISMATCH_EVENT, then)
    run = RunDir.create(tmp_path, "run-1", plan={}, git_sha=None)
    started = time.monotonic()
    with pytest.raises(InfraError, match="load stopped early: 20 of the first 20") as raised:
        load.run_load_process(run, "http://127.0.0.1:9", duration_s=60, grace_s=5)
    assert raised.value.exit_code == 3
    assert time.monotonic() - started < 20  # not the 60 s the flood was planned for


@pytest.mark.integration
@pytest.mark.parallel
def test_without_a_mismatch_a_clean_exit_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in(monkeypatch, "load_finished", "exit")
    run = RunDir.create(tmp_path, "run-1", plan={}, git_sha=None)
    load.run_load_process(run, "http://127.0.0.1:9", duration_s=60, grace_s=5)


def test_the_event_tail_reads_only_whole_new_lines(tmp_path: Path) -> None:
    path = tmp_path / EVENTS_FILE
    tail = load.EventTail(path)
    assert not tail.has(API_MISMATCH_EVENT)  # no file yet
    path.write_text(json.dumps({"type": "load_started"}) + "\n" + '{"type": "api_mis')
    assert not tail.has(API_MISMATCH_EVENT)  # a torn last line waits for the rest
    with path.open("a") as events:
        events.write('match"}\nnot json\n')
    assert tail.has(API_MISMATCH_EVENT) and tail.has("load_started")
    assert tail.offset == path.stat().st_size
