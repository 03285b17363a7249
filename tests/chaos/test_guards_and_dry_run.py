"""Every fault passes the blast-radius guards, and a dry run changes nothing.

Kubernetes cases run the real providers against kmock (a Kubernetes API emulator on
127.0.0.1) with clients from an injected factory; local cases against a handle file
naming real processes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from chaos import actions
from chaos.actions import Actions
from chaos.handle import Replica, write_handle
from chaos.leases import Leases
from chaos.settings import ChaosSettings, parse_settings
from platforms.kubernetes import build_clients
from slo.errors import UsageError
from tests.platforms.test_kubernetes_harness import PODS, POLICIES, KmockCluster

NS = "shop"


@pytest.fixture
def cluster() -> Iterator[KmockCluster]:
    with KmockCluster() as running:
        for name in ("orders-0", "orders-1", "orders-2", "orders-3"):
            running.add_pod(NS, name, app="orders")
        running.add_pod(NS, "db-0", app="db")
        yield running


def kube(cluster: KmockCluster, **overrides: Any) -> ChaosSettings:
    conf = {
        "peakops_platform": "kubernetes",
        "peakops_namespace": NS,
        "peakops_allowed_namespaces": NS,
        "peakops_selector": "app=orders",
        "peakops_max_targets": 2,
        "peakops_max_percent": 50,
        "peakops_kube_host": cluster.url,
        **{f"peakops_{k}": v for k, v in overrides.items()},
    }
    return parse_settings(conf)


def injected(cluster: KmockCluster) -> Actions:
    return Actions(clients_factory=lambda _s: build_clients(host=cluster.url), leases=Leases())


KUBE_REFUSALS = [
    pytest.param({"selector": ""}, {"count": 1}, "empty selector", id="an empty selector"),
    pytest.param(
        {"namespace": "kube-system"},
        {"count": 1},
        "not allowlisted",
        id="a namespace that is not allowlisted",
    ),
    pytest.param({"selector": "app=nothing"}, {"count": 1}, "no targets", id="zero targets"),
    pytest.param({}, {"count": 3}, "more than the limit of 2", id="more targets than allowed"),
    pytest.param(
        {"max_targets": 4},
        {"percent": 75},
        "more than the limit of 50 %",
        id="too large a percentage",
    ),
]


@pytest.mark.parametrize(("overrides", "how_many", "message"), KUBE_REFUSALS)
def test_a_pod_kill_outside_the_blast_radius_is_refused_before_any_change(
    cluster: KmockCluster, overrides: dict[str, Any], how_many: dict[str, Any], message: str
) -> None:
    mark = cluster.mark()
    with pytest.raises(UsageError, match=message):
        injected(cluster).kill_replicas(
            kube(cluster, **overrides), name="kill-replica", count=how_many.get("count"),
            percent=how_many.get("percent"),
        )  # fmt: skip
    assert cluster.mutating(mark) == []


def test_a_network_cut_with_an_empty_selector_or_a_foreign_namespace_is_refused(
    cluster: KmockCluster,
) -> None:
    mark = cluster.mark()
    for overrides in ({"selector": ""}, {"namespace": "default"}):
        with pytest.raises(UsageError):
            injected(cluster).start_network_fault(
                kube(cluster, **overrides), name="cut", toxic="timeout",
                attributes={"timeout_ms": 0}, stream="both", toxicity=1.0,
                link="orders-inventory", duration_s=5,
            )  # fmt: skip
    assert cluster.mutating(mark) == []


def test_latency_is_refused_on_kubernetes_a_network_policy_can_only_cut(
    cluster: KmockCluster,
) -> None:
    with pytest.raises(UsageError, match="only cut"):
        injected(cluster).start_network_fault(
            kube(cluster), name="slow", toxic="latency", attributes={"latency_ms": 100},
            stream="downstream", toxicity=1.0, link="orders-inventory", duration_s=5,
        )  # fmt: skip


def test_the_module_level_provider_kills_one_pod_through_the_real_factory(
    cluster: KmockCluster,
) -> None:
    conf = {
        "peakops_platform": "kubernetes", "peakops_namespace": NS,
        "peakops_allowed_namespaces": NS, "peakops_selector": "app=orders",
        "peakops_kube_host": cluster.url, "peakops_max_percent": 50,
    }  # fmt: skip
    result = actions.kill_replicas(count=1, configuration=conf)
    assert result["event"] == "fault_started" and len(result["targets"]) == 1
    # instantaneous: lapses at the latest one (default 5 s) lease after the kill
    assert (result["duration_s"], result["lease_s"]) == (0.0, 5.0)
    assert result["expires_ts"] == pytest.approx(time.time() + 5, abs=2)
    assert cluster.get(PODS, NS, result["targets"][0]) is None
    assert len(cluster.names(PODS, NS)) == 4  # db-0 and three orders pods remain


def test_a_kubernetes_dry_run_reports_the_targets_and_changes_nothing(
    cluster: KmockCluster,
) -> None:
    mark = cluster.mark()
    settings = kube(cluster, dry_run="true", max_targets=4)
    acts = injected(cluster)
    killed = acts.kill_replicas(settings, name="kill-replica", count=2, percent=None)
    cut = acts.start_network_fault(
        settings, name="cut", toxic="timeout", attributes={"timeout_ms": 0}, stream="both",
        toxicity=1.0, link="orders-inventory", duration_s=5,
    )  # fmt: skip
    healed = acts.heal_network_fault(settings, name="cut", link="orders-inventory")
    assert killed["event"] == "would_start" and len(killed["targets"]) == 2
    assert cut == {**cut, "event": "would_start", "policy": "peakops-cut", "dry_run": True}
    assert healed["event"] == "would_stop"
    assert cluster.mutating(mark) == []
    assert cluster.names(POLICIES, NS) == []
    assert acts.leases.keys() == []


# ------------------------------------------------------------------ local platform


@pytest.fixture
def sleepers(tmp_path: Path) -> Iterator[tuple[Path, list[subprocess.Popen[bytes]]]]:
    """Two processes that look like orders replicas (``--admin-port``), and their handle."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)", "--admin-port", str(port)]
        )
        for port in (9101, 9102)
    ]
    replicas = [
        Replica(f"orders-{i}", p.pid, f"http://127.0.0.1:{port}")
        for i, (p, port) in enumerate(zip(procs, (9101, 9102), strict=True), start=1)
    ]
    path = tmp_path / "chaos-platform.json"
    write_handle(path, base_url="http://127.0.0.1:9100", fault_proxies={}, replicas=replicas)
    yield path, procs
    for proc in procs:
        proc.kill()
        proc.wait()


def local(handle: Path, **overrides: Any) -> ChaosSettings:
    conf = {"peakops_state_file": str(handle), "peakops_selector": "app=orders"}
    conf.update({f"peakops_{k}": v for k, v in overrides.items()})
    return parse_settings(conf)


LOCAL_REFUSALS = [
    pytest.param({"selector": ""}, 1, "empty selector", id="an empty selector"),
    pytest.param({"selector": "app=db"}, 1, "no targets", id="zero matching replicas"),
    pytest.param({"max_percent": 100}, 2, "more than the limit of 1", id="too many replicas"),
    pytest.param({}, 3, "more than the 2 targets matched", id="more than exist"),
]


@pytest.mark.integration  # the replicas are real processes
@pytest.mark.parametrize(("overrides", "count", "message"), LOCAL_REFUSALS)
def test_a_local_kill_outside_the_blast_radius_kills_nothing(
    sleepers: tuple[Path, list[subprocess.Popen[bytes]]],
    overrides: dict[str, Any],
    count: int,
    message: str,
) -> None:
    handle, procs = sleepers
    with pytest.raises(UsageError, match=message):
        Actions().kill_replicas(local(handle, **overrides), name="k", count=count, percent=None)
    assert all(p.poll() is None for p in procs)


@pytest.mark.integration  # the replicas are real processes
def test_a_local_dry_run_names_the_replica_and_kills_nothing(
    sleepers: tuple[Path, list[subprocess.Popen[bytes]]],
) -> None:
    handle, procs = sleepers
    result = Actions().kill_replicas(local(handle, dry_run=True), name="k", count=1, percent=None)
    assert result["event"] == "would_start" and result["targets"][0] in ("orders-1", "orders-2")
    assert all(p.poll() is None for p in procs)


@pytest.mark.integration  # the replicas are real processes
def test_a_local_kill_sigkills_exactly_one_replica_chosen_by_the_rng(
    sleepers: tuple[Path, list[subprocess.Popen[bytes]]],
) -> None:
    handle, procs = sleepers
    result = Actions().kill_replicas(local(handle), name="k", count=1, percent=None)
    killed = int(result["targets"][0].rsplit("-", 1)[1]) - 1
    assert procs[killed].wait(timeout=5) == -9
    assert procs[1 - killed].poll() is None
    assert psutil.pid_exists(procs[1 - killed].pid)


def test_a_handle_pointing_off_loopback_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    write_handle(path, base_url="http://10.0.0.1:80", fault_proxies={}, replicas=[])
    with pytest.raises(UsageError, match=r"not on 127\.0\.0\.1"):
        Actions().kill_replicas(local(path), name="k", count=1, percent=None)
