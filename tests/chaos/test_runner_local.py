"""The runner child against a real LocalPlatform: fault windows, rollbacks, SIGKILL, SIGTERM.

"Traffic" is a request through the fault proxy on orders -> inventory (the stand-in
inventory's ``/healthz`` on the proxy's listening port).
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from chaos.catalog import experiment_path
from chaos.runner import runner_command
from platforms.faults import FaultProxyClient
from platforms.local import LocalPlatform
from tests.chaos.conftest import LINK
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
