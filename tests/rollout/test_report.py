"""report.html on synthetic run directories: sections, a killed run, size, determinism."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from collectors.latency import IntervalRecorder
from collectors.rundir import RunDir
from rollout.gate import gate_run, plan_of_run
from rollout.report import SIZE_LIMIT, rebuild_report, write_report
from rollout.report_svg import Series, Shade, line_chart, nice_ticks
from slo.runfiles import (
    EVENTS_FILE,
    LATENCY_FILE,
    LOAD_FILE,
    REPORT_FILE,
    TRACES_DIR,
    TRACES_FILE,
    VERDICT_FILE,
)
from tests.rollout.synthetic import T0, write_run

EXTERNAL = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//""", re.I
)


def span(trace: str, span_id: str, name: str, start_ms: float, ms: float, *,
         kind: int = 3, parent: str = "", status: int = 201) -> dict[str, object]:  # fmt: skip
    start = int((T0 + start_ms / 1000) * 1e9)
    return {"traceId": trace, "spanId": span_id, "parentSpanId": parent, "name": name,
            "kind": kind, "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + int(ms * 1e6)),
            "attributes": [{"key": "http.response.status_code",
                            "value": {"intValue": str(status)}}],
            "status": {}}  # fmt: skip


def batch(service: str, spans: list[dict[str, object]]) -> str:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    return json.dumps({"resourceSpans": [{"resource": resource,
                                          "scopeSpans": [{"spans": spans}]}]})  # fmt: skip


def write_traces(run: RunDir, requests: int = 30) -> None:
    """Client spans of ``requests`` orders (the slowest: trace t-29), and server spans."""
    clients = [
        span(f"t-{i}", f"c{i}", "POST /orders", i * 300.0, 10.0 + i) for i in range(requests)
    ]
    servers = [span(f"t-{i}", f"s{i}", "POST /orders", i * 300.0 + 1, 8.0 + i, kind=2,
                    parent=f"c{i}") for i in range(requests)]  # fmt: skip
    run.file(TRACES_FILE).write_text(batch("peakops-load", clients) + "\n")
    (run.path / TRACES_DIR).mkdir()
    (run.path / TRACES_DIR / "orders-1.jsonl").write_text(batch("orders", servers) + "\n")


@pytest.fixture
def gated(tmp_path: Path) -> RunDir:
    run, plan = write_run(tmp_path)
    write_traces(run)
    gate_run(run, plan)
    return run


def html_of(run: RunDir) -> str:
    return run.file(REPORT_FILE).read_text()


def test_the_gate_writes_a_report_with_every_section(gated: RunDir) -> None:
    html = html_of(gated)
    for ident in ("verdict-table", "outcomes", "latency", "load", "stock", "traces",
                  "environment"):  # fmt: skip
        assert f'id="{ident}"' in html, ident
    verdict = json.loads(gated.file(VERDICT_FILE).read_text())
    for evaluation in verdict["evaluations"]:
        assert f"<strong>{evaluation['slo_id']}</strong>" in html
    assert "p99 &lt; 250 ms (steady)" in html  # the objective, in the plan's words
    assert "store-offline" in html and "<svg" in html  # its window shaded on the charts
    assert "Arrivals per second" in html and "Confirmed orders per minute" in html
    assert "Errors by endpoint" in html and "Convergence lag" in html
    assert "Store outboxes" in html and "reconcile (s)" in html
    assert "t-29" in html and "orders: POST /orders" in html  # slowest trace, its spans
    assert "0" * 40 in html  # git sha


def test_the_verdict_comes_before_everything_else(gated: RunDir) -> None:
    html = html_of(gated)
    order = ("headline", "verdict-table", "outcomes", "latency", "stock", "environment")
    positions = [html.index(f'id="{ident}"') for ident in order]
    assert positions == sorted(positions)


def test_re_gating_and_peakops_report_write_the_same_bytes(gated: RunDir) -> None:
    first = gated.file(REPORT_FILE).read_bytes()
    plan = plan_of_run(gated)
    gate_run(gated, plan)
    assert gated.file(REPORT_FILE).read_bytes() == first
    rebuild_report(gated, plan)
    assert gated.file(REPORT_FILE).read_bytes() == first


def test_the_report_references_nothing_outside_the_file(gated: RunDir) -> None:
    html = html_of(gated)
    assert not EXTERNAL.search(html)
    assert "http://" not in html.replace("http://127.0.0.1", "")  # only the target's own URL
    assert "<script" not in html and "@import" not in html and "@font-face" not in html
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def kill_halfway(run: RunDir) -> None:
    """What a SIGKILL leaves: header still running, a torn last line, no load_finished."""
    run.update_header(status="running", ended_at=None, ended_ts=None)
    events = run.file(EVENTS_FILE).read_text().splitlines()
    kept = [e for e in events if json.loads(e)["ts"] < 1005.0]
    run.file(EVENTS_FILE).write_text("\n".join(kept) + "\n")
    latency = run.file(LATENCY_FILE).read_text()
    run.file(LATENCY_FILE).write_text(latency[: len(latency) // 2])  # torn mid-record


def test_a_killed_run_gets_a_report_that_says_it_did_not_finish(tmp_path: Path) -> None:
    run, plan = write_run(tmp_path)
    kill_halfway(run)
    gate_run(run, plan)
    html = html_of(run)
    assert 'id="unfinished"' in html and "did not finish" in html
    assert 'id="verdict-table"' in html and "inconclusive" in html
    assert 'id="latency"' in html


def test_a_run_with_files_missing_and_corrupt_says_what_is_missing(tmp_path: Path) -> None:
    run, plan = write_run(tmp_path)
    kill_halfway(run)
    run.file(LOAD_FILE).unlink()
    lines = run.file(EVENTS_FILE).read_text().splitlines()
    run.file(EVENTS_FILE).write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n")
    path = rebuild_report(run, plan)  # never gated: no verdict
    html = path.read_text()
    assert 'id="missing"' in html
    assert "load.jsonl: missing" in html
    assert "events.jsonl: 1 unreadable line(s) skipped" in html
    assert "verdict.json is missing: the run was never gated" in html
    assert "did not finish" in html


def test_a_report_without_plan_or_verdict_still_renders(tmp_path: Path) -> None:
    run, _ = write_run(tmp_path)
    html = rebuild_report(run, None).read_text()
    assert 'id="verdict-table"' in html and "No verdict" in html and 'id="latency"' in html


def write_long_run(root: Path, seconds: int) -> tuple[RunDir, object]:
    """A busy run: 3 endpoints recorded every second for ``seconds``, plus load records."""
    run, plan = write_run(root)
    for name in (LATENCY_FILE, LOAD_FILE):
        run.file(name).unlink()
    clock = [T0]
    with run.appender(LATENCY_FILE) as out, run.appender(LOAD_FILE) as load:
        recorder = IntervalRecorder(out.append, clock=lambda: clock[0], source="load")
        for second in range(seconds):
            for i in range(10):
                clock[0] = T0 + second + i / 10
                recorder.record("POST /orders", 0.02 + (second % 7) / 100 + i / 1000, ok=i != 3)
                recorder.record("GET /stock/{sku}", 0.004 + i / 5000, ok=True)
                recorder.record("POST /orders/{id}/cancel", 0.01, ok=True)
            load.append({"t": T0 + second, "interval_s": 1.0, "source": "load",
                         "arrivals_planned": 20, "arrivals_sent": 20, "arrivals_dropped": 0,
                         "orders_confirmed": 19, "active_max": 2, "cpu_percent": 30.0,
                         "planned": {"POST /orders": 20, "GET /stock/{sku}": 20}})  # fmt: skip
        recorder.flush(final=True)
    return run, plan


@pytest.mark.parametrize("seconds", [60, 3600], ids=["a one-minute run", "an hour-long run"])
def test_the_report_stays_under_1_mb(tmp_path: Path, seconds: int) -> None:
    run, plan = write_long_run(tmp_path, seconds)
    write_traces(run, requests=200)
    result = gate_run(run, plan)  # type: ignore[arg-type]
    size = write_report(run, plan, result).stat().st_size  # type: ignore[arg-type]
    assert size < SIZE_LIMIT
    assert size < 200_000  # bucketed: an hour draws no more points than a few minutes


def test_a_chart_breaks_its_line_where_there_is_no_data_and_shades_windows() -> None:
    svg = line_chart("t", [Series("a", [(0, 1.0), (1, None), (2, 3.0)])], y_label="ms",
                     shades=[Shade("network-cut", 0.5, 1.5)])  # fmt: skip
    path = re.search(r'<path d="([^"]+)"', svg)
    assert path is not None and path.group(1).count("M") == 2  # two pieces, no bridge
    assert "network-cut" in svg and "<rect" in svg
    assert line_chart("t", [Series("a", [(0, 1.0)])], y_label="ms") == line_chart(
        "t", [Series("a", [(0, 1.0)])], y_label="ms"
    )


@pytest.mark.parametrize(("high", "top"), [(0.0, 1.0), (7.0, 8.0), (230.0, 250.0), (1.0, 1.0)],
                         ids=["nothing", "seven", "hundreds", "exactly one"])  # fmt: skip
def test_ticks_are_round_and_cover_the_data(high: float, top: float) -> None:
    assert nice_ticks(high)[-1] == top and nice_ticks(high)[0] == 0.0
