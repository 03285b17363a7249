"""The live view of ``peakops rehearse``: plain lines off a terminal, stdout left alone."""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import rehearsal.run
from cli import app
from cli.live_view import LiveView, find_run, panel, plain_line
from collectors.live_state import LiveSnapshot
from collectors.rundir import RunDir
from slo.runfiles import EVENTS_FILE, LOAD_FILE
from tests.rehearsal.test_rehearse_seams import PLAN, FakeLoad, FakePlatform, plan, seams

SNAPSHOT = LiveSnapshot(
    phase="flood", elapsed_s=23.4, planned_s=60.0, arrivals_planned=812.0, arrivals_sent=810,
    arrivals_dropped=2, window_s=5.0, p95_ms=18.24, error_ratio=0.004, orders_per_min=2100.0,
    faults=("network-cut",), faults_ended=1, alerts=("PeakopsSLOBurnPageQuick (page)",),
)  # fmt: skip


def test_a_plain_line_says_every_figure_and_that_oversell_is_judged_at_the_end() -> None:
    assert plain_line(SNAPSHOT) == (
        "peakops: flood 23/60 s | arrivals 810/812 sent (2 dropped) | last 5 s: p95 18.2 ms, "
        "errors 0.40%, orders 2,100/min | faults: network-cut (1 ended) | "
        "alerts: PeakopsSLOBurnPageQuick (page) | oversell: judged at the end"
    )


def test_the_panel_shows_the_same_figures() -> None:
    out = Console(file=io.StringIO(), width=100, color_system=None)
    out.print(panel(SNAPSHOT, "peakops rehearse r1"))
    text = out.file.getvalue()  # type: ignore[attr-defined]
    shown = ("peakops rehearse r1", "23/60 s", "810/812 sent", "p95 18.2 ms",
             "network-cut (1 ended)", "PeakopsSLOBurnPageQuick", "judged at the end")  # fmt: skip
    assert [words for words in shown if words not in text] == []


def test_the_run_is_the_new_directory_of_this_plan(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    assert find_run(tmp_path / "missing", set(), "p") is None
    other = RunDir.create(tmp_path, "20261122-000002-bbbb", plan={"name": "other"}, git_sha=None)
    mine = RunDir.create(tmp_path, "20261122-000001-aaaa", plan={"name": "p"}, git_sha=None)
    assert other.path.is_dir()
    assert find_run(tmp_path, {"old"}, "p") == mine.path


def test_off_a_terminal_the_view_prints_a_line_as_the_run_grows(tmp_path: Path) -> None:
    out = Console(file=io.StringIO(), width=300)
    the_plan = plan()
    view = LiveView(tmp_path, the_plan, out, clock=lambda: 1005.0, interactive=False)
    view.show(view.poll())
    assert out.file.getvalue() == ""  # type: ignore[attr-defined]  # no run yet
    run = RunDir.create(tmp_path, "20261122-000001-aaaa", plan={"name": the_plan.name},
                        git_sha=None)  # fmt: skip
    with run.appender(EVENTS_FILE) as events:
        events.append({"ts": 1000.0, "type": "load_started", "duration_s": 10.0})
    with run.appender(LOAD_FILE) as load:
        load.append({"t": 1001.0, "interval_s": 1.0, "arrivals_planned": 20,
                     "arrivals_sent": 20, "orders_confirmed": 5})  # fmt: skip
    view.show(view.poll(), last=True)
    line = out.file.getvalue()  # type: ignore[attr-defined]
    assert line.startswith("peakops: flood 5/10 s | arrivals 20/20 sent (0 dropped)"), line


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN)
    return path


def test_rehearse_output_json_keeps_stdout_to_the_verdict(
    tmp_path: Path, plan_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = functools.partial(rehearsal.run.rehearse, seams=seams(FakePlatform(), FakeLoad()))
    monkeypatch.setattr(rehearsal.run, "rehearse", fake)
    runs = str(tmp_path / "runs")
    args = ["rehearse", "--plan", str(plan_file), "--duration", "3s", "--run-dir", runs]
    done = CliRunner().invoke(app, [*args, "--output", "json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["status"] == "pass"
    assert "peakops: verdict: pass (exit 0) 3/3 s | arrivals 60/60 sent" in done.stderr
