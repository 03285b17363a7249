"""LocalPlatform with the stand-in OMS: start, stop, supervise, deploy, roll back.

Every test that starts the platform runs real child processes and is marked integration.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from platforms.base import Endpoints, FaultTargets, Health, ReplicaTarget
from platforms.faultproxy.client import FaultProxyClient
from platforms.local import LocalPlatform, OmsConfig
from platforms.processes import free_port
from slo.errors import InfraError, RevertError, UsageError
from tests.platforms.conftest import MakePlatform
from tests.platforms.helpers import EventRecorder, FastClock, alive, healthz, versions, wait_until


def _child_pids() -> list[int]:
    return alive(child.pid for child in psutil.Process().children(recursive=True))


@pytest.mark.integration
def test_start_runs_inventory_and_every_replica_healthy_and_stop_leaves_no_child(
    make_platform: MakePlatform, events: EventRecorder
) -> None:
    platform = make_platform(replicas=3)
    platform.start()
    replicas = platform.replicas()
    assert [r.name for r in replicas] == ["orders-1", "orders-2", "orders-3"]
    assert all(r.alive and r.pid and r.restarts == 0 and r.version == "v1" for r in replicas)
    assert [healthz(r.admin_url) for r in replicas] == [
        {"status": "ok", "version": "v1", "replica": i} for i in (1, 2, 3)
    ]
    assert httpx.get(platform.base_url, trust_env=False).status_code == 200
    assert healthz(platform.inventory_url) == {"status": "ok"}
    assert len(platform.metrics_targets()) == 4
    assert all(t.startswith("127.0.0.1:") for t in platform.metrics_targets())
    assert len(_child_pids()) == 4

    platform.stop()

    assert _child_pids() == []
    assert [e["type"] for e in events.all()] == ["platform_started", "platform_stopped"]


@pytest.mark.integration
def test_stop_is_idempotent_and_harmless_before_start(
    make_platform: MakePlatform, events: EventRecorder
) -> None:
    platform = make_platform(replicas=1)
    platform.stop()
    platform.start()
    platform.stop()
    platform.stop()
    assert [e["type"] for e in events.all()] == ["platform_started", "platform_stopped"]


@pytest.mark.integration
def test_a_listener_that_fails_on_start_leaves_nothing_running(
    standin_env: None, tmp_path: Path
) -> None:
    def broken(event: dict[str, object]) -> None:
        raise RuntimeError(f"cannot record {event['type']}")

    config = OmsConfig(replicas=1, module="standin_oms")
    with pytest.raises(RuntimeError, match="cannot record platform_started"):
        LocalPlatform(config, tmp_path, on_event=broken).start()
    assert _child_pids() == []


@pytest.mark.integration
def test_a_listener_failing_in_the_supervisor_is_raised_by_the_next_call(
    standin_env: None, tmp_path: Path
) -> None:
    def picky(event: dict[str, object]) -> None:
        if event["type"] == "replica_exited":
            raise RuntimeError("disk full")

    config = OmsConfig(replicas=1, module="standin_oms")
    with LocalPlatform(config, tmp_path, on_event=picky, poll_interval_s=0.05) as platform:
        platform.kill_replica("orders-1")

        def failed() -> bool:
            try:
                platform.replicas()
            except InfraError as err:
                return "supervisor failed: disk full" in str(err)
            return False

        wait_until(failed)
    assert _child_pids() == []


@pytest.mark.integration
def test_a_platform_starts_only_once(make_platform: MakePlatform) -> None:
    platform = make_platform(replicas=1)
    platform.start()
    platform.stop()
    with pytest.raises(InfraError, match="cannot start: it is stopped"):
        platform.start()


@pytest.mark.integration
def test_ctrl_c_inside_the_context_manager_still_stops_every_child(
    make_platform: MakePlatform,
) -> None:
    with pytest.raises(KeyboardInterrupt), make_platform(replicas=2):
        assert len(_child_pids()) == 3
        raise KeyboardInterrupt
    assert _child_pids() == []


@pytest.mark.integration
@pytest.mark.parametrize(
    ("role", "name"),
    [("orders", "orders-1"), ("inventory", "inventory")],
    ids=["a replica that exits at start", "an inventory that exits at start"],
)
def test_start_fails_fast_with_the_childs_stderr_and_cleans_up(
    make_platform: MakePlatform, monkeypatch: pytest.MonkeyPatch, role: str, name: str
) -> None:
    monkeypatch.setenv("STANDIN_FAIL", role)
    platform = make_platform(replicas=2)
    began = time.monotonic()
    with pytest.raises(InfraError) as caught:
        platform.start(timeout_s=20)
    message = str(caught.value)
    assert message.startswith(f"{name} did not become healthy")
    assert "exited with code 2" in message
    assert "simulated failure" in message
    assert caught.value.exit_code == 3
    assert time.monotonic() - began < 10
    assert _child_pids() == []


def test_start_fails_clearly_when_the_interpreter_does_not_exist(
    standin_env: None, tmp_path: Path
) -> None:
    config = OmsConfig(python=str(tmp_path / "no-python"), module="standin_oms")
    with pytest.raises(InfraError, match=r"cannot start inventory \(.*no-python\): \[Errno 2\]"):
        LocalPlatform(config, tmp_path).start()
    assert _child_pids() == []


@pytest.mark.integration
def test_start_times_out_when_a_replica_never_becomes_healthy(
    make_platform: MakePlatform,
) -> None:
    platform = make_platform(replicas=1, version="unready")
    with pytest.raises(
        InfraError, match=r"orders-1 .* within 1s: still not healthy \(last: http 503\)"
    ):
        platform.start(timeout_s=1)
    assert _child_pids() == []


@pytest.mark.integration
def test_a_killed_replica_is_restarted_with_the_same_ports(
    make_platform: MakePlatform, events: EventRecorder
) -> None:
    platform = make_platform(replicas=2)
    platform.start()
    before = platform.replicas()[0]

    platform.kill_replica("orders-1")

    after = wait_until(lambda: [r for r in platform.replicas() if r.restarts == 1 and r.alive])
    assert after[0].name == "orders-1"
    assert after[0].pid != before.pid
    assert after[0].admin_url == before.admin_url
    assert wait_until(lambda: healthz(before.admin_url))["replica"] == 1
    assert [(e["type"], e.get("code")) for e in events.all() if e.get("replica")] == [
        ("replica_killed", None),
        ("replica_exited", -signal.SIGKILL),
        ("replica_restarted", None),
    ]
    assert events.of("replica_exited")[0]["restart_in_s"] == 0.5


@pytest.mark.integration
def test_a_killed_inventory_is_restarted(
    make_platform: MakePlatform, events: EventRecorder
) -> None:
    platform = make_platform(replicas=1)
    platform.start()
    platform.kill_replica("inventory", signal.SIGTERM)
    wait_until(lambda: events.of("replica_restarted", "inventory"))
    assert wait_until(lambda: healthz(platform.inventory_url)) == {"status": "ok"}
    assert events.of("replica_exited", "inventory")[0]["code"] == -signal.SIGTERM


@pytest.mark.integration
def test_killing_an_unknown_replica_is_refused(make_platform: MakePlatform) -> None:
    platform = make_platform(replicas=1)
    platform.start()
    with pytest.raises(UsageError, match="no replica named 'orders-9'; known: inventory, orders-1"):
        platform.kill_replica("orders-9")


@pytest.mark.integration
def test_backoff_doubles_to_the_cap_while_a_replica_keeps_crashing_and_resets_once_up(
    make_platform: MakePlatform,
    events: EventRecorder,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    clock = FastClock(speed=10)  # the 8 s cap is 0.8 real seconds; "up for 10 s" is 1
    crash_file = tmp_path / "crash"
    monkeypatch.setenv("STANDIN_CRASH_FILE", str(crash_file))
    platform = make_platform(replicas=1, clock=clock)
    platform.start(timeout_s=100)
    crash_file.touch()

    platform.kill_replica("orders-1")
    wait_until(lambda: len(events.of("replica_exited")) >= 6)
    exits = events.of("replica_exited")
    assert [e["restart_in_s"] for e in exits[:6]] == [0.5, 1, 2, 4, 8, 8]
    assert [e["code"] for e in exits[:6]] == [-signal.SIGKILL, 3, 3, 3, 3, 3]

    crash_file.unlink()
    up = wait_until(lambda: [r for r in platform.replicas() if r.alive], timeout_s=15)
    up_since = clock()
    wait_until(lambda: clock() - up_since > 11, timeout_s=5)
    assert platform.replicas()[0].pid == up[0].pid
    before = len(events.of("replica_exited"))
    platform.kill_replica("orders-1")
    last = wait_until(lambda: events.of("replica_exited")[before:])
    assert last[0]["restart_in_s"] == 0.5


@pytest.mark.integration
def test_deploy_replaces_every_replica_and_rollback_restores_the_previous_revision(
    make_platform: MakePlatform, events: EventRecorder
) -> None:
    platform = make_platform(replicas=2)
    platform.start()

    platform.deploy("v2")
    assert platform.revision == "v2"
    assert [r.version for r in platform.replicas()] == ["v2", "v2"]
    assert versions(r.admin_url for r in platform.replicas()) == ["v2", "v2"]

    assert platform.rollback() == "v1"
    assert platform.revision == "v1"
    assert platform.revisions() == ["v1", "v2", "v1"]
    assert versions(r.admin_url for r in platform.replicas()) == ["v1", "v1"]
    deploys = [
        (e["from_version"], e["to_version"], e["rollback"]) for e in events.of("deploy_finished")
    ]
    assert deploys == [("v1", "v2", False), ("v2", "v1", True)]


@pytest.mark.integration
def test_a_second_rollback_is_a_no_op(make_platform: MakePlatform) -> None:
    platform = make_platform(replicas=1)
    platform.start()
    platform.deploy("v2")
    platform.rollback()
    pids = [r.pid for r in platform.replicas()]
    assert platform.rollback() == "v1"
    assert platform.revisions() == ["v1", "v2", "v1"]
    assert [r.pid for r in platform.replicas()] == pids


@pytest.mark.integration
def test_rollback_without_a_previous_revision_is_refused(make_platform: MakePlatform) -> None:
    platform = make_platform(replicas=1)
    platform.start()
    with pytest.raises(RevertError, match="cannot roll back v1: no previous revision") as caught:
        platform.rollback()
    assert caught.value.exit_code == 5


@pytest.mark.integration
def test_a_failed_deploy_raises_and_can_be_rolled_back(
    make_platform: MakePlatform, events: EventRecorder
) -> None:
    platform = make_platform(replicas=2)
    platform.start()
    with pytest.raises(
        InfraError, match=r"(?s)orders-1 did not become healthy.*version crash is broken"
    ):
        platform.deploy("crash", timeout_s=10)
    assert platform.revision == "crash"
    assert events.of("deploy_failed")

    assert platform.rollback() == "v1"
    replicas = platform.replicas()
    assert [(r.version, r.alive, r.restarts) for r in replicas] == [("v1", True, 0)] * 2
    assert versions(r.admin_url for r in replicas) == ["v1", "v1"]


@pytest.mark.integration
def test_after_a_rolling_deploy_the_public_port_serves_the_new_version(
    make_platform: MakePlatform,
) -> None:
    platform = make_platform(replicas=2)
    platform.start()
    platform.deploy("v2")
    with httpx.Client(trust_env=False) as client:
        answers = {client.get(platform.base_url).json()["version"] for _ in range(5)}
    assert answers == {"v2"}


@pytest.mark.integration
def test_a_chosen_public_port_is_used(standin_env: None, tmp_path: Path) -> None:
    port = free_port()
    config = OmsConfig(replicas=1, module="standin_oms", port=port)
    with LocalPlatform(config, tmp_path) as platform:
        assert platform.base_url == f"http://127.0.0.1:{port}"
        assert httpx.get(platform.base_url, trust_env=False).json()["replica"] == 1


def test_urls_are_refused_before_start(make_platform: MakePlatform) -> None:
    with pytest.raises(InfraError, match="has not been started"):
        _ = make_platform().base_url


# -- the Platform protocol ------------------------------------------------------


@pytest.mark.integration
def test_a_running_local_platform_reports_endpoints_health_and_fault_targets(
    make_platform: MakePlatform,
) -> None:
    platform = make_platform(replicas=2, fault_proxy=True)
    platform.start()

    assert platform.endpoints() == Endpoints(
        base_url=platform.base_url,
        truth_url=platform.inventory_url,
        store_urls={},
        metrics_targets=tuple(platform.metrics_targets()),
    )
    assert platform.health() == Health(ok=True, detail=f"GET {platform.base_url}/healthz: http 200")
    targets = platform.fault_targets()
    assert targets == FaultTargets(
        kind="local",
        base_url=platform.base_url,
        fault_proxies={"orders-inventory": platform.fault_proxies()["orders-inventory"]},
        replicas=tuple(ReplicaTarget(r.name, r.pid, r.admin_url) for r in platform.replicas()),
    )
    assert [r.name for r in targets.replicas] == ["orders-1", "orders-2"]
    assert all(r.pid for r in targets.replicas)

    platform.stop()
    assert platform.health() == Health(ok=False, detail="local platform is stopped, not running")


@pytest.mark.integration
def test_reap_faults_resets_every_fault_proxy_and_names_what_it_removed(
    make_platform: MakePlatform,
) -> None:
    platform = make_platform(replicas=1, fault_proxy=True)
    platform.start()
    with FaultProxyClient(platform.fault_proxies()["orders-inventory"]) as client:
        client.add("slow", "latency", {"latency_ms": 100}, lease_s=30)
        client.add("off", "down", lease_s=30)

        assert sorted(platform.reap_faults()) == ["orders-inventory: off", "orders-inventory: slow"]
        assert client.state()["toxics"] == []
    assert platform.reap_faults() == []


@pytest.mark.integration
def test_rollback_to_a_known_revision_restores_it_once(make_platform: MakePlatform) -> None:
    platform = make_platform(replicas=1)
    platform.start()
    platform.deploy("v2")
    platform.deploy("v3")

    assert platform.rollback("v1") == "v1"
    assert versions(r.admin_url for r in platform.replicas()) == ["v1"]
    pids = [r.pid for r in platform.replicas()]
    assert platform.rollback() == "v1"
    assert platform.rollback("v1") == "v1"
    assert platform.rollback("v9") == "v1"  # unknown: the previous one, already restored
    assert [r.pid for r in platform.replicas()] == pids
    assert platform.current_revision() == "v1"
    assert platform.revisions() == ["v1", "v2", "v3", "v1"]

    assert platform.rollback("v2") == "v2"  # another known revision, asked for
    assert versions(r.admin_url for r in platform.replicas()) == ["v2"]


@pytest.mark.integration
def test_a_failed_supervisor_makes_the_platform_unhealthy(
    standin_env: None, tmp_path: Path
) -> None:
    def picky(event: dict[str, object]) -> None:
        if event["type"] == "replica_exited":
            raise RuntimeError("disk full")

    config = OmsConfig(replicas=2, module="standin_oms")
    with LocalPlatform(config, tmp_path, on_event=picky, poll_interval_s=0.05) as platform:
        assert platform.health().ok
        platform.kill_replica("orders-1")
        failed = Health(ok=False, detail="supervisor failed: disk full")
        wait_until(lambda: platform.health() == failed)
        assert httpx.get(platform.base_url, trust_env=False).status_code == 200  # orders-2
