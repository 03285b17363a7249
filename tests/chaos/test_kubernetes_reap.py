"""A NetworkPolicy cut from a process that is SIGKILLed is removed by `peakops chaos reap`.

The injector is a real child process calling the provider against kmock (a Kubernetes
API emulator on 127.0.0.1, served from this test's thread) with a 2 s lease.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from platforms.kubernetes_leases import EXPIRES_AT, parse_expiry
from tests.platforms.helpers import wait_until
from tests.platforms.test_kubernetes_harness import PODS, POLICIES, KmockCluster

pytestmark = pytest.mark.integration

NS = "shop"
INJECT = """
import json, sys, time
from chaos.actions import start_network_fault
result = start_network_fault(
    name="cut", toxic="timeout", attributes={"timeout_ms": 0}, stream="both",
    duration_s=60, configuration=json.loads(sys.argv[1]),
)
print(json.dumps(result), flush=True)
time.sleep(60)
"""


@pytest.fixture
def cluster() -> Iterator[KmockCluster]:
    with KmockCluster() as running:
        running.add_pod(NS, "orders-0", app="orders")
        yield running


def expiry(cluster: KmockCluster) -> float | None:
    policy = cluster.get(POLICIES, NS, "peakops-cut")
    return None if policy is None else parse_expiry(policy["metadata"]["annotations"][EXPIRES_AT])


def reap(cluster: KmockCluster) -> str:
    done = CliRunner().invoke(app, ["chaos", "reap", "--namespace", NS, "--kube-host", cluster.url])
    assert done.exit_code == 0, done.output
    return done.output


def test_a_cut_left_by_a_sigkilled_injector_is_reaped_once_its_lease_lapses(
    cluster: KmockCluster,
) -> None:
    conf = {
        "peakops_platform": "kubernetes", "peakops_namespace": NS,
        "peakops_allowed_namespaces": NS, "peakops_selector": "app=orders",
        "peakops_kube_host": cluster.url, "peakops_lease_s": 2,
    }  # fmt: skip
    injector = subprocess.Popen(
        [sys.executable, "-c", INJECT, json.dumps(conf)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert injector.stdout is not None
        started = json.loads(injector.stdout.readline())
        assert started["event"] == "fault_started" and started["policy"] == "peakops-cut"
        assert started["expires_ts"] == pytest.approx(time.time() + 60 + 2, abs=5)
        first = expiry(cluster)
        assert first is not None
        wait_until(lambda: (expiry(cluster) or 0) > first, timeout_s=5)  # being renewed
    finally:
        injector.send_signal(signal.SIGKILL)
        injector.wait()

    assert "reaped 0 fault(s)" in reap(cluster)  # the lease has not run out yet
    assert cluster.get(POLICIES, NS, "peakops-cut") is not None
    time.sleep(max(0.0, (expiry(cluster) or 0) - time.time()) + 0.2)
    assert f"removed {NS}/peakops-cut" in reap(cluster)
    assert cluster.get(POLICIES, NS, "peakops-cut") is None


def test_store_offline_on_kubernetes_cuts_only_the_store_pods_and_heals(tmp_path: Path) -> None:
    """The shipped experiment, run by the CLI, against kmock with an orders and a store pod."""
    with KmockCluster() as running:
        for name, app_label in (("orders-0", "orders"), ("store-1-0", "store")):
            running.add(PODS, NS, {"metadata": {"name": name, "labels": {"app": app_label}},
                                   "status": {"phase": "Running"}})  # fmt: skip
        seen: list[dict[str, Any]] = []

        def watch() -> bool:
            policy = running.get(POLICIES, NS, "peakops-store-offline")
            if policy is not None:
                seen.append(policy)
            return policy is not None

        watcher = threading.Thread(target=wait_until, args=(watch,), kwargs={"timeout_s": 20})
        watcher.start()
        done = subprocess.run(
            [sys.executable, "-m", "cli", "chaos", "run", "store-offline",
             "--platform", "kubernetes", "-n", NS, "--kube-host", running.url,
             "--var", f"peakops_allowed_namespaces={NS}", "--var", "peakops_duration_s=1",
             "--journal", str(tmp_path / "journal.json")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        watcher.join()
        assert done.returncode == 0, done.stdout + done.stderr[-2000:]
        (policy,) = seen[:1]
        assert policy["spec"]["podSelector"] == {"matchLabels": {"app": "store"}}
        assert policy["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "peakops"
        assert running.names(POLICIES, NS) == []  # healed
