"""The runner child against a real LocalPlatform: fault windows, rollbacks, SIGKILL, SIGTERM.

"Traffic" is a request through the fault proxy on orders -> inventory (the stand-in
inventory's ``/healthz`` on the proxy's listening port).
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server

from chaos.catalog import experiment_path
from chaos.runner import runner_command
from platforms.faultproxy.client import FaultProxyClient
from platforms.local import LocalPlatform
from slo.conventions import LABEL_ENDPOINT, LABEL_OUTCOME, METRIC_CLIENT_REQUESTS
from tests.chaos.conftest import LINK
from tests.chaos.livepages import Growth, serve
from tests.platforms.helpers import wait_until

pytestmark = pytest.mark.integration


def through_proxy(platform: LocalPlatform) -> str:
    with FaultProxyClient(platform.fault_proxies()[LINK]) as proxy:
        return "http://" + str(proxy.state()["listen"])


def flows(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=0.5, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def events(path: Path, kind: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [e for e in map(json.loads, path.read_text().splitlines()) if e["type"] == kind]


def start_runner(
    tmp_path: Path, handle: Path, name: str = "network-cut", **variables: Any
) -> subprocess.Popen[bytes]:
    command = runner_command(
        experiment_path(name),
        journal=tmp_path / "journal.json",
        events=tmp_path / "events.jsonl",
        variables={"peakops_state_file": str(handle), "peakops_lease_s": 2, **variables},
    )
    with (tmp_path / "runner.log").open("ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def log_of(tmp_path: Path) -> str:
    return (tmp_path / "runner.log").read_text()[-3000:]


def test_a_network_cut_opens_and_closes_a_fault_window_and_traffic_flows_after(
    platform: LocalPlatform, handle: Path, tmp_path: Path
) -> None:
    url = through_proxy(platform)
    assert flows(url)
    runner = start_runner(tmp_path, handle, peakops_duration_s=1)
    assert runner.wait(timeout=60) == 0, log_of(tmp_path)
    started = events(tmp_path / "events.jsonl", "fault_started")
    stopped = events(tmp_path / "events.jsonl", "fault_stopped")
    assert [e["fault"] for e in started] == ["network-cut"]
    assert [e["id"] for e in stopped] == [started[0]["id"]]
    assert 0.9 < stopped[0]["ts"] - started[0]["ts"] < 5
    # at the latest: 1 s planned + a 2 s lease after the start
    assert started[0]["ts"] + 2.9 < started[0]["expires_ts"] < started[0]["ts"] + 3.1
    assert flows(url)
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "completed" and not journal["deviated"]
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]


def test_a_sigkilled_runner_leaves_a_fault_that_lapses_within_its_lease(
    platform: LocalPlatform, handle: Path, tmp_path: Path
) -> None:
    url = through_proxy(platform)
    runner = start_runner(tmp_path, handle, peakops_duration_s=30)
    wait_until(lambda: events(tmp_path / "events.jsonl", "fault_started"), timeout_s=20)
    wait_until(lambda: not flows(url), timeout_s=5)  # the blackhole is in place
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=5)
    wait_until(lambda: flows(url), timeout_s=5, poll_s=0.1)  # 2 s lease, no renewer
    assert events(tmp_path / "events.jsonl", "fault_stopped") == []
    (started,) = events(tmp_path / "events.jsonl", "fault_started")
    assert time.time() < started["expires_ts"]  # an upper bound: 30 s planned + 2 s lease


def test_a_sigtermed_runner_rolls_back_at_once(
    platform: LocalPlatform, handle: Path, tmp_path: Path
) -> None:
    url = through_proxy(platform)
    runner = start_runner(tmp_path, handle, peakops_duration_s=30, peakops_lease_s=30)
    wait_until(lambda: events(tmp_path / "events.jsonl", "fault_started"), timeout_s=20)
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=20) not in (0, 5), log_of(tmp_path)
    assert events(tmp_path / "events.jsonl", "fault_stopped")
    assert flows(url)  # healed by the rollback, long before the 30 s lease
    with FaultProxyClient(platform.fault_proxies()[LINK]) as proxy:
        assert proxy.state()["toxics"] == []


def test_kill_replica_kills_one_replica_and_waits_until_it_is_back(
    platform: LocalPlatform, handle: Path, tmp_path: Path
) -> None:
    before = {r.name: r.pid for r in platform.replicas()}
    runner = start_runner(tmp_path, handle, name="kill-replica")
    assert runner.wait(timeout=60) == 0, log_of(tmp_path)
    after = {r.name: r.pid for r in platform.replicas()}
    assert sum(before[name] != after[name] for name in before) == 1
    assert [r.restarts for r in platform.replicas()].count(1) == 1
    started = events(tmp_path / "events.jsonl", "fault_started")
    assert [e["fault"] for e in started] == ["kill-replica"]
    assert events(tmp_path / "events.jsonl", "fault_stopped")
    # instantaneous: the window closes one 2 s lease after the kill at the latest
    assert started[0]["ts"] + 1.9 < started[0]["expires_ts"] < started[0]["ts"] + 2.1


class Flood:
    """Requests through the fault proxy in a loop, counted as the load process counts
    them (``peakops_client_requests_total{endpoint, outcome}``) on a real /metrics."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.registry = CollectorRegistry()
        self.requests = Counter(
            METRIC_CLIENT_REQUESTS, "r", [LABEL_ENDPOINT, LABEL_OUTCOME], registry=self.registry
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=0.1, trust_env=False) as client:
            while not self.stop.is_set():
                try:
                    ok = client.get(f"{self.url}/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.requests.labels("GET /healthz", "ok" if ok else "fail").inc()
                time.sleep(0.01)

    def __enter__(self) -> str:
        server, thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.server, self.server_thread = server, thread
        self.thread.start()
        return f"http://127.0.0.1:{server.server_port}/metrics"

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.server.shutdown()
        self.server_thread.join(5)


def test_the_stop_condition_halts_a_cut_that_burns_the_error_budget_and_heals_it(
    platform: LocalPlatform, handle: Path, tmp_path: Path
) -> None:
    url = through_proxy(platform)
    with Flood(url) as metrics_url:
        runner = start_runner(
            tmp_path, handle, peakops_duration_s=30, peakops_metrics_url=metrics_url,
            peakops_error_budget=0.02, peakops_stop_burn_rate=14.4,
        )  # fmt: skip
        code = runner.wait(timeout=60)
    assert code == 1, log_of(tmp_path)  # the experiment was interrupted: not "held"
    (halted,) = events(tmp_path / "events.jsonl", "chaos_halted")
    assert halted["fault"] == "network-cut" and halted["burn_rate"] >= 14.4
    assert halted["burn"] == "error" and halted["error_burn"] == halted["burn_rate"]
    (started,) = events(tmp_path / "events.jsonl", "fault_started")
    (stopped,) = events(tmp_path / "events.jsonl", "fault_stopped")
    assert stopped["ts"] - started["ts"] < 10  # healed long before its planned 30 s
    assert started["ts"] < halted["ts"] <= stopped["ts"]
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "interrupted", journal["status"]
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    assert flows(url)
    with FaultProxyClient(platform.fault_proxies()[LINK]) as proxy:
        assert proxy.state()["toxics"] == []


def test_a_cut_that_does_not_burn_the_budget_runs_to_its_end(
    platform: LocalPlatform, handle: Path, tmp_path: Path
) -> None:
    """A generous stop threshold (a 100 % failure ratio burns a 2 % budget 50x)."""
    with Flood(through_proxy(platform)) as metrics_url:
        runner = start_runner(
            tmp_path, handle, peakops_duration_s=2, peakops_metrics_url=metrics_url,
            peakops_error_budget=0.02, peakops_stop_burn_rate=51,
        )  # fmt: skip
        assert runner.wait(timeout=60) in (0, 1), log_of(tmp_path)
    assert events(tmp_path / "events.jsonl", "chaos_halted") == []
    (started,) = events(tmp_path / "events.jsonl", "fault_started")
    (stopped,) = events(tmp_path / "events.jsonl", "fault_stopped")
    assert stopped["ts"] - started["ts"] >= 1.9


def test_the_stop_condition_halts_a_slow_link_that_burns_the_latency_budget(
    platform: LocalPlatform, handle: Path, tmp_path: Path
) -> None:
    """20 % of the orders above 250 ms burn a p99 < 250 ms budget 20x: halted at 14.4x."""
    growth = Growth(ok=1000, latencies={0.02: 800, 0.3: 200})
    with serve(growth) as metrics_url:
        runner = start_runner(
            tmp_path, handle, name="network-slow", peakops_duration_s=30,
            peakops_metrics_url=metrics_url, peakops_latency_threshold_ms=250,
            peakops_latency_percentile=99, peakops_stop_burn_rate=14.4,
        )  # fmt: skip
        code = runner.wait(timeout=60)
    assert code == 1, log_of(tmp_path)
    (halted,) = events(tmp_path / "events.jsonl", "chaos_halted")
    assert (halted["fault"], halted["burn"], halted["burn_rate"]) == (
        "network-slow",
        "latency",
        20.0,
    )
    assert halted["latency_endpoint"] == "POST /orders" and halted["error_burn"] == 0.0
    (started,) = events(tmp_path / "events.jsonl", "fault_started")
    (stopped,) = events(tmp_path / "events.jsonl", "fault_stopped")
    assert stopped["ts"] - started["ts"] < 10  # healed long before its planned 30 s
    assert "stop condition: latency burn 20.0x (stop at 14.4x)" in log_of(tmp_path)
    with FaultProxyClient(platform.fault_proxies()[LINK]) as proxy:
        assert proxy.state()["toxics"] == []
