"""Prometheus and Alertmanager in the loop of real rehearsals (the CLI, the reference OMS).

Each starts real processes on 127.0.0.1 and takes 12-25 s. All but the missing-binaries
test need Debian's ``prometheus`` and ``prometheus-alertmanager``, and skip without them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PEAKOPS = [sys.executable, "-m", "cli"]
INSTALL = "apt-get install prometheus prometheus-alertmanager"
needs_binaries = pytest.mark.skipif(
    shutil.which("prometheus") is None
    or not (shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")),
    reason=f"prometheus and prometheus-alertmanager are not installed ({INSTALL})",
)


def plan_without_chaos(tmp_path: Path) -> Path:
    """The shipped plan without its chaos schedule (faults have their own tests)."""
    text = (ROOT / "peak.yaml").read_text()
    path = tmp_path / "peak.yaml"
    path.write_text(text[: text.index("\nchaos:")] + "\n" + text[text.index("\nrollback:") :])
    return path


def rehearse(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    extra: str = "",
    relative: bool = False,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``relative``: from ``tmp_path`` with ``--run-dir runs``, as in a project directory."""
    runs = tmp_path / "runs"
    plan = plan_without_chaos(tmp_path)
    plan.write_text(plan.read_text() + extra)
    done = subprocess.run(
        [*PEAKOPS, "rehearse", "--plan", str(plan),
         "--run-dir", "runs" if relative else str(runs), "--output", "json", *args],
        cwd=tmp_path if relative else ROOT, capture_output=True, text=True, timeout=120,
        env=env,
    )  # fmt: skip
    (run,) = list(runs.iterdir())
    return done, run


def events(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


def of_type(run: Path, kind: str) -> list[dict[str, Any]]:
    return [event for event in events(run) if event["type"] == kind]


def servers_of(run: Path) -> list[psutil.Process]:
    """Prometheus or Alertmanager processes still running with this run's files."""
    mine = str(run / "monitoring")
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and any(
                mine in part for part in proc.info["cmdline"] or ()
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@needs_binaries
def test_v1_runs_with_every_target_up_no_page_and_nothing_left_running(tmp_path: Path) -> None:
    done, run = rehearse(tmp_path, "--duration", "6s", relative=True)  # --run-dir runs
    assert done.returncode in (0, 1, 4), done.stderr[-2000:]
    assert "Prometheus in the loop" not in done.stderr  # nothing skipped, nothing failed
    (started,) = of_type(run, "monitoring_started")
    assert "not_ready" not in started and started["alert_windows"] == "rehearsal"
    assert started["prometheus_url"].startswith("http://127.0.0.1:")
    assert started["watched"] == [
        "place-order-latency", "error-ratio", "stock-check-latency",
        "place-order-latency-under-faults", "error-ratio-under-faults",
    ]  # fmt: skip
    # Waited for before the load: the load started after both were ready.
    kinds = [event["type"] for event in events(run)]
    assert kinds.index("monitoring_started") < kinds.index("load_started")
    (stopped,) = of_type(run, "monitoring_stopped")
    up = stopped["targets_up"]
    assert stopped["targets_never_up"] == [], stopped
    assert {f"peakops-oms {t}" for t in started["oms_targets"]} <= set(up)
    assert len(started["oms_targets"]) == 4  # inventory, 2 orders replicas, store-1
    assert any(name.startswith("peakops-load ") for name in up)
    assert stopped["exemplars"] > 0  # exemplar storage on, OpenMetrics relayed
    pages = [e for e in of_type(run, "alert_firing") if e["severity"] == "page"]
    assert pages == []
    config = json.loads((run / "monitoring" / "prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == config["global"]["evaluation_interval"] == "1s"
    assert servers_of(run) == []


@needs_binaries
def test_v2_pages_on_order_latency_with_its_start_in_the_timeline(tmp_path: Path) -> None:
    done, run = rehearse(tmp_path, "--duration", "6s", "--oms-version", "v2")
    assert done.returncode == 1, done.stderr[-2000:]
    load_started = of_type(run, "load_started")[0]["ts"]
    pages = [
        e for e in of_type(run, "alert_firing")
        if e["severity"] == "page" and e["slo"] == "place-order-latency"
    ]  # fmt: skip
    assert pages, of_type(run, "alert_firing")
    quick = next(e for e in pages if e["alert"] == "PeakopsSLOBurnPageQuick")
    # Slow orders from the first second: it fires within seconds of the load.
    assert load_started < quick["started_ts"] < load_started + 8
    assert quick["started_at"].endswith("+00:00")
    for resolved in of_type(run, "alert_resolved"):
        assert resolved["ended_ts"] > resolved["started_ts"]
    (stopped,) = of_type(run, "monitoring_stopped")
    ended = {e["alert"] for e in of_type(run, "alert_resolved") if e["slo"] == quick["slo"]}
    still = {e["alert"] for e in stopped["still_firing"] if e["slo"] == quick["slo"]}
    assert "PeakopsSLOBurnPageQuick" in ended | still  # an end, or firing when the run ended
    # Prometheus -> Alertmanager -> the run's webhook.
    notified = of_type(run, "alert_notified")
    assert any(n["alert"] == "PeakopsSLOBurnPageQuick" and n["receiver"] == "peakops-page"
               for n in notified), notified  # fmt: skip
    assert servers_of(run) == []


@pytest.mark.parallel  # judges no latency
def test_without_the_binaries_it_says_so_once_and_the_run_is_still_judged(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    done, run = rehearse(tmp_path, "--duration", "3s", env=env)
    assert done.returncode in (0, 1, 4), done.stderr[-2000:]
    assert json.loads(done.stdout)["status"] in ("pass", "fail", "inconclusive")
    assert (run / "verdict.json").is_file()
    assert done.stderr.count("Prometheus in the loop skipped") == 1, done.stderr
    assert INSTALL in done.stderr
    (skipped,) = of_type(run, "monitoring_skipped")
    assert "not found on PATH" in skipped["reason"]
    assert not (run / "monitoring").exists()


@needs_binaries
@pytest.mark.parallel  # judges no latency
def test_sigkill_of_the_cli_takes_prometheus_and_alertmanager_with_it(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [*PEAKOPS, "rehearse", "--plan", str(plan_without_chaos(tmp_path)), "--duration", "60s",
         "--run-dir", str(runs)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:

        def monitoring_up() -> bool:
            found = list(runs.iterdir()) if runs.exists() else []
            return bool(found) and bool(of_type(found[0], "monitoring_started"))

        assert wait_for(monitoring_up, timeout=40), "monitoring never started"
        (run,) = list(runs.iterdir())
        assert len(servers_of(run)) == 2  # Prometheus and Alertmanager
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert wait_for(lambda: servers_of(run) == [], timeout=10), [
            p.cmdline() for p in servers_of(run)
        ]
    finally:
        if proc.poll() is None:
            proc.kill()


class FakePrometheus(BaseHTTPRequestHandler):
    """An existing Prometheus as peakops sees it: ready, one page firing on an SLO of
    the plan and one alert of somebody else's."""

    def do_GET(self) -> None:
        alerts = [
            {"labels": {"alertname": "PeakopsSLOBurnPageQuick", "slo": "place-order-latency",
                        "severity": "page"},
             "state": "firing", "activeAt": "2026-12-04T10:00:00.123456789Z", "value": "1"},
            {"labels": {"alertname": "DiskFull", "severity": "page"}, "state": "firing",
             "activeAt": "2026-12-04T09:00:00Z", "value": "1"},
        ]  # fmt: skip
        body = json.dumps({"status": "success", "data": {"alerts": alerts}}).encode()
        self.send_response(200 if self.path in ("/-/ready", "/api/v1/alerts") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def existing_prometheus() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parallel  # judges no latency
def test_an_existing_prometheus_is_read_and_nothing_is_started(
    tmp_path: Path, existing_prometheus: str
) -> None:
    extra = f"\nmonitoring:\n  prometheusUrl: {existing_prometheus}\n"
    done, run = rehearse(tmp_path, "--duration", "3s", extra=extra)
    assert done.returncode in (0, 1, 4), done.stderr[-2000:]
    assert "Prometheus in the loop" not in done.stderr
    (started,) = of_type(run, "monitoring_started")
    assert started["mode"] == "external" and started["prometheus_url"] == existing_prometheus
    assert not (run / "monitoring").exists()  # no Prometheus or Alertmanager of ours
    (fired,) = of_type(run, "alert_firing")  # the plan's SLO only, not DiskFull
    assert (fired["alert"], fired["slo"]) == ("PeakopsSLOBurnPageQuick", "place-order-latency")
    (stopped,) = of_type(run, "monitoring_stopped")
    assert [a["alert"] for a in stopped["still_firing"]] == ["PeakopsSLOBurnPageQuick"]
