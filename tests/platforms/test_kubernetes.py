"""The Kubernetes platform against kmock over real HTTP on 127.0.0.1.

Each test asserts both the outcome (which objects are left in the emulator) and the
contract (the exact mutating requests the emulator received).
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from platforms.blast_radius import BlastRadius
from platforms.kubernetes import KubernetesPlatform, Pod
from platforms.kubernetes_leases import EXPIRES_AT, MANAGED_BY
from slo.errors import InfraError, RevertError, UsageError
from slo.exitcodes import ExitCode
from tests.platforms.test_kubernetes_harness import (
    DEPLOYMENTS,
    PODS,
    POLICIES,
    Call,
    KmockCluster,
)

REPO = Path(__file__).resolve().parents[2]
RADIUS = BlastRadius(allowed_namespaces=("shop",), max_targets=3, max_percent=60)
ZONE = "topology.kubernetes.io/zone"
NOW = 1_700_000_000.2  # 2023-11-14T22:13:20.2Z
POLICY_PATH = "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies"

MakePlatform = Callable[..., KubernetesPlatform]


@pytest.fixture
def cluster() -> Iterator[KmockCluster]:
    """shop: orders-0..4 (zones a a b b c) and db-0 (zone a); payments: orders-0."""
    with KmockCluster() as cluster:
        for i, zone in enumerate("aabbc"):
            cluster.add_pod("shop", f"orders-{i}", app="orders", **{ZONE: zone})
        cluster.add_pod("shop", "db-0", app="db", **{ZONE: "a"})
        cluster.add_pod("payments", "orders-0", app="orders")
        yield cluster


@pytest.fixture
def make_platform(cluster: KmockCluster) -> MakePlatform:
    def make(radius: BlastRadius = RADIUS, now: float = NOW) -> KubernetesPlatform:
        return KubernetesPlatform(cluster.clients(), radius, clock=lambda: now)

    return make


def pod_uid(cluster: KmockCluster, name: str, namespace: str = "shop") -> str:
    pod = cluster.get(PODS, namespace, name)
    assert pod is not None
    return str(pod["metadata"]["uid"])


def pod_delete(cluster: KmockCluster, name: str) -> Call:
    return Call(
        method="DELETE",
        path=f"/api/v1/namespaces/shop/pods/{name}",
        params={"gracePeriodSeconds": "0"},
        content_type=None,
        body={"gracePeriodSeconds": 0, "preconditions": {"uid": pod_uid(cluster, name)}},
    )


def without_content_type(calls: list[Call]) -> list[Call]:
    return [Call(c.method, c.path, c.params, None, c.body) for c in calls]


ALL_SHOP = ["db-0", "orders-0", "orders-1", "orders-2", "orders-3", "orders-4"]


# ------------------------------------------------------------------ kill_pods


def test_kill_pods_deletes_exactly_the_chosen_pods_with_grace_0(
    cluster: KmockCluster, make_platform: MakePlatform
) -> None:
    expected = sorted(random.Random(3).sample([f"orders-{i}" for i in range(5)], 2))
    calls = [pod_delete(cluster, name) for name in expected]
    mark = cluster.mark()

    killed = make_platform().kill_pods("shop", "app=orders", count=2, rng=random.Random(3))

    assert killed == expected
    assert without_content_type(cluster.mutating(mark)) == calls
    assert cluster.names(PODS, "shop") == sorted(set(ALL_SHOP) - set(expected))
    assert cluster.names(PODS, "payments") == ["orders-0"]
    listing = cluster.calls(mark)[0]
    assert (listing.method, listing.path) == ("GET", "/api/v1/namespaces/shop/pods")
    assert listing.params["labelSelector"] == "app=orders"


def test_kill_pods_by_percentage_rounds_up_within_the_radius(
    cluster: KmockCluster, make_platform: MakePlatform
) -> None:
    killed = make_platform().kill_pods("shop", {"app": "orders"}, percent=30, rng=random.Random(1))
    assert len(killed) == 2  # 30 % of 5 pods, rounded up
    assert [call.path.rsplit("/", 1)[1] for call in cluster.mutating()] == killed


def test_a_dry_run_names_the_same_pods_and_sends_no_mutating_call(
    cluster: KmockCluster, make_platform: MakePlatform
) -> None:
    platform = make_platform()
    would = platform.kill_pods("shop", "app=orders", count=2, rng=random.Random(3), dry_run=True)
    assert cluster.mutating() == []
    assert cluster.names(PODS, "shop") == ALL_SHOP
    assert platform.kill_pods("shop", "app=orders", count=2, rng=random.Random(3)) == would


@pytest.mark.parametrize(
    ("namespace", "selector", "kwargs", "fragment"),
    [
        pytest.param("payments", "app=orders", {"count": 1}, "not allowlisted",
                     id="a namespace outside the allowlist"),
        pytest.param("shop", "", {"count": 1}, "an empty selector would target every pod",
                     id="an empty selector"),
        pytest.param("shop", "app=nothing", {"count": 1}, "0 targets",
                     id="a selector that matches no pod"),
        pytest.param("shop", "app=orders", {"count": 4}, "more than the limit of 3",
                     id="more pods than max_targets"),
        pytest.param("shop", f"app=orders,{ZONE}=a", {"count": 2}, r"2 of 2 targets \(100.0 %\)",
                     id="more pods than max_percent"),
    ],
)  # fmt: skip
def test_a_kill_outside_the_blast_radius_is_refused_before_any_mutating_call(
    cluster: KmockCluster,
    make_platform: MakePlatform,
    namespace: str,
    selector: str,
    kwargs: dict[str, Any],
    fragment: str,
) -> None:
    with pytest.raises(UsageError, match=fragment) as caught:
        make_platform().kill_pods(namespace, selector, rng=random.Random(0), **kwargs)
    assert caught.value.exit_code == ExitCode.USAGE
    assert cluster.mutating() == []
    assert cluster.names(PODS, "shop") == ALL_SHOP


def test_pods_the_server_should_not_have_listed_are_never_killed() -> None:
    # kmock without the shim ignores labelSelector, like a broken or hostile server.
    with KmockCluster(shim=False) as raw:
        raw.add_pod("shop", "orders-0", app="orders")
        raw.add_pod("shop", "orders-1", app="orders")
        raw.add_pod("shop", "db-0", app="db")
        radius = BlastRadius(("shop",), max_targets=10, max_percent=100)
        platform = KubernetesPlatform(raw.clients(), radius)
        killed = platform.kill_pods("shop", "app=orders", percent=100, rng=random.Random(0))
        assert killed == ["orders-0", "orders-1"]
        assert raw.names(PODS, "shop") == ["db-0"]


def test_terminating_pods_are_not_candidates(cluster: KmockCluster) -> None:
    cluster.add(
        PODS,
        "shop",
        {
            "metadata": {
                "name": "orders-9",
                "labels": {"app": "orders"},
                "deletionTimestamp": "2023-11-14T22:13:00Z",
            }
        },
    )
    platform = KubernetesPlatform(cluster.clients(), RADIUS)
    pods = platform.pods("shop", "app=orders")
    assert [pod.name for pod in pods] == [f"orders-{i}" for i in range(5)]
    assert pods[0] == Pod(
        "orders-0", pod_uid(cluster, "orders-0"), {"app": "orders", ZONE: "a"}, None
    )


# ------------------------------------------------------------------ zone_loss


def test_zone_loss_kills_every_matching_pod_of_that_zone_and_nothing_else(
    cluster: KmockCluster, make_platform: MakePlatform
) -> None:
    calls = [pod_delete(cluster, name) for name in ("orders-0", "orders-1")]
    killed = make_platform().zone_loss("shop", "app=orders", "a")
    assert killed == ["orders-0", "orders-1"]
    assert without_content_type(cluster.mutating()) == calls
    assert cluster.names(PODS, "shop") == ["db-0", "orders-2", "orders-3", "orders-4"]


@pytest.mark.parametrize(
    ("zone", "radius", "fragment"),
    [
        pytest.param("d", RADIUS, "0 targets", id="a zone with no matching pod"),
        pytest.param("a", BlastRadius(("shop",), 3, 30), r"2 of 5 targets \(40.0 %\)",
                     id="a zone holding more than max_percent of the pods"),
        pytest.param("a", BlastRadius(("shop",), 1, 100), "more than the limit of 1",
                     id="a zone holding more than max_targets pods"),
        pytest.param("a b", RADIUS, "bad label value", id="a zone that is not a label value"),
    ],
)  # fmt: skip
def test_a_zone_loss_outside_the_blast_radius_is_refused(
    cluster: KmockCluster, zone: str, radius: BlastRadius, fragment: str
) -> None:
    platform = KubernetesPlatform(cluster.clients(), radius)
    with pytest.raises(UsageError, match=fragment):
        platform.zone_loss("shop", "app=orders", zone)
    assert cluster.mutating() == []


def test_a_zone_loss_dry_run_names_the_zone_s_pods_only(
    cluster: KmockCluster, make_platform: MakePlatform
) -> None:
    assert make_platform().zone_loss("shop", "app=orders", "b", dry_run=True) == [
        "orders-2",
        "orders-3",
    ]
    assert cluster.mutating() == []


# ------------------------------------------------------------------- network

ORDERS_IN_A = {"app": "orders", ZONE: "a"}
EXPIRES = "2023-11-14T22:13:51Z"  # NOW + 30 s, rounded up to the second


def test_cut_network_creates_a_deny_all_policy_with_the_exact_lease_metadata(
    cluster: KmockCluster, make_platform: MakePlatform
) -> None:
    name = make_platform().cut_network("shop", ORDERS_IN_A, name="orders-a", lease_s=30)

    assert name == "peakops-orders-a"
    manifest = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "peakops-orders-a",
            "labels": {MANAGED_BY: "peakops"},
            "annotations": {EXPIRES_AT: EXPIRES},
        },
        "spec": {"podSelector": {"matchLabels": ORDERS_IN_A}, "policyTypes": ["Ingress", "Egress"]},
    }
    assert without_content_type(cluster.mutating()) == [
        Call("POST", POLICY_PATH, {}, None, manifest)
    ]
    stored = cluster.get(POLICIES, "shop", "peakops-orders-a")
    assert stored is not None
    assert stored["metadata"]["labels"] == {MANAGED_BY: "peakops"}
    assert stored["metadata"]["annotations"] == {EXPIRES_AT: EXPIRES}
    assert stored["spec"] == manifest["spec"]


@pytest.mark.parametrize(
    ("namespace", "selector", "name", "lease_s", "fragment"),
    [
        pytest.param("payments", "app=orders", "cut", 30, "not allowlisted",
                     id="a namespace outside the allowlist"),
        pytest.param("shop", {}, "cut", 30, "an empty selector", id="an empty selector"),
        pytest.param("shop", "app=ghost", "cut", 30, "0 targets", id="a selector matching nothing"),
        pytest.param("shop", "app=orders", "cut", 30, "would hit 5 targets",
                     id="a selector matching more pods than max_targets"),
        pytest.param("shop", ORDERS_IN_A, "Cut_1", 30, "lowercase DNS label",
                     id="a name that is not a DNS label"),
        pytest.param("shop", ORDERS_IN_A, "cut", 0, "lease must be", id="a zero lease"),
        pytest.param("shop", ORDERS_IN_A, "cut", 7200, "lease must be", id="a lease over 1 h"),
    ],
)  # fmt: skip
def test_a_network_cut_outside_the_rules_is_refused_and_creates_nothing(
    cluster: KmockCluster,
    make_platform: MakePlatform,
    namespace: str,
    selector: Any,
    name: str,
    lease_s: float,
    fragment: str,
) -> None:
    with pytest.raises(UsageError, match=fragment):
        make_platform().cut_network(namespace, selector, name=name, lease_s=lease_s)
    assert cluster.mutating() == []


def test_a_network_cut_dry_run_creates_nothing(
    cluster: KmockCluster, make_platform: MakePlatform
) -> None:
    platform = make_platform()
    assert platform.cut_network("shop", ORDERS_IN_A, name="x", lease_s=5, dry_run=True) == (
        "peakops-x"
    )
    assert cluster.mutating() == []
    assert cluster.names(POLICIES, "shop") == []


def test_a_second_cut_of_the_same_name_is_refused(make_platform: MakePlatform) -> None:
    platform = make_platform()
    platform.cut_network("shop", ORDERS_IN_A, name="x", lease_s=5)
    with pytest.raises(UsageError, match="already exists"):
        platform.cut_network("shop", ORDERS_IN_A, name="x", lease_s=5)


def test_renew_moves_the_expiry_with_a_merge_patch_and_keeps_the_labels(
    cluster: KmockCluster, make_platform: MakePlatform
) -> None:
    make_platform().cut_network("shop", ORDERS_IN_A, name="x", lease_s=30)
    mark = cluster.mark()

    expires = make_platform(now=NOW + 20).renew("shop", "x", 30)

    assert expires == "2023-11-14T22:14:11Z"
    patch = {"metadata": {"annotations": {EXPIRES_AT: expires}}}
    path = f"{POLICY_PATH}/peakops-x"
    assert cluster.mutating(mark) == [
        Call("PATCH", path, {}, "application/merge-patch+json", patch)
    ]
    stored = cluster.get(POLICIES, "shop", "peakops-x")
    assert stored is not None
    assert stored["metadata"]["annotations"] == {EXPIRES_AT: expires}
    assert stored["metadata"]["labels"] == {MANAGED_BY: "peakops"}


def test_renewing_a_reaped_cut_fails_as_infrastructure(make_platform: MakePlatform) -> None:
    with pytest.raises(InfraError, match="is gone"):
        make_platform().renew("shop", "never-made", 30)


def test_heal_deletes_the_policy_and_healing_again_is_fine(
    cluster: KmockCluster, make_platform: MakePlatform
) -> None:
    platform = make_platform()
    platform.cut_network("shop", ORDERS_IN_A, name="x", lease_s=30)
    stored = cluster.get(POLICIES, "shop", "peakops-x")
    assert stored is not None
    mark = cluster.mark()

    assert platform.heal("shop", "x") is True
    assert platform.heal("shop", "x") is False

    assert without_content_type(cluster.mutating(mark)) == [
        Call(
            "DELETE",
            f"{POLICY_PATH}/peakops-x",
            {},
            None,
            {"preconditions": {"uid": stored["metadata"]["uid"]}},
        )
    ]
    assert cluster.names(POLICIES, "shop") == []


def test_heal_refuses_a_policy_peakops_does_not_manage(
    cluster: KmockCluster, make_platform: MakePlatform
) -> None:
    cluster.add(POLICIES, "shop", {"metadata": {"name": "peakops-x", "labels": {}}})
    with pytest.raises(RevertError, match="not managed by peakops") as caught:
        make_platform().heal("shop", "x")
    assert caught.value.exit_code == ExitCode.REVERT_FAILED
    assert cluster.mutating() == []


# ---------------------------------------------------------------------- reap

PAST, FUTURE = "2023-11-14T22:13:20Z", "2023-11-14T22:13:21Z"  # around NOW


def policy(name: str, labels: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels, "annotations": annotations},
        "spec": {"podSelector": {"matchLabels": {"app": "orders"}}},
    }


MANAGED = {MANAGED_BY: "peakops"}
REAP_CASES = {
    # name: (labels, annotations, reaped?)
    "peakops-expired": (MANAGED, {EXPIRES_AT: PAST}, True),
    "peakops-live": (MANAGED, {EXPIRES_AT: FUTURE}, False),
    "peakops-no-expiry": (MANAGED, {}, True),
    "peakops-garbled": (MANAGED, {EXPIRES_AT: "tomorrow"}, True),
    "peakops-no-offset": (MANAGED, {EXPIRES_AT: "2023-11-14T22:00:00"}, True),
    "peakops-offset": (MANAGED, {EXPIRES_AT: "2023-11-14T23:13:00+01:00"}, True),
    "peakops-far-future": (MANAGED, {EXPIRES_AT: "2099-01-01T00:00:00Z"}, True),
    "peakops-one-hour": (MANAGED, {EXPIRES_AT: "2023-11-14T23:13:21Z"}, False),
    "peakops-unlabelled": ({}, {EXPIRES_AT: PAST}, False),
    "peakops-helm": ({MANAGED_BY: "Helm"}, {EXPIRES_AT: PAST}, False),
    "user-policy": ({}, {EXPIRES_AT: PAST}, False),
    "labelled-not-ours": (MANAGED, {EXPIRES_AT: PAST}, False),
}


def test_reap_removes_expired_and_unreadable_leases_and_nothing_else(
    cluster: KmockCluster, make_platform: MakePlatform
) -> None:
    for name, (labels, notes, _) in REAP_CASES.items():
        cluster.add(POLICIES, "shop", policy(name, labels, notes))
    cluster.add(POLICIES, "payments", policy("peakops-expired", MANAGED, {EXPIRES_AT: PAST}))
    reaped = sorted(name for name, (_, _, gone) in REAP_CASES.items() if gone)

    removed = make_platform().reap(["shop"])

    assert sorted(removed) == [f"shop/{name}" for name in reaped]
    assert sorted(call.path.rsplit("/", 1)[1] for call in cluster.mutating()) == reaped
    assert {call.method for call in cluster.mutating()} == {"DELETE"}
    assert cluster.names(POLICIES, "shop") == sorted(set(REAP_CASES) - set(reaped))
    assert cluster.names(POLICIES, "payments") == ["peakops-expired"]
    assert make_platform().reap(["shop", "payments"]) == ["payments/peakops-expired"]


def test_reap_with_nothing_to_do_sends_no_mutating_call(
    cluster: KmockCluster, make_platform: MakePlatform
) -> None:
    assert make_platform().reap(["shop", "empty"]) == []
    assert cluster.mutating() == []


CHILD = """
import sys, time
from platforms.blast_radius import BlastRadius
from platforms.kubernetes import KubernetesPlatform, build_clients
platform = KubernetesPlatform(build_clients(host=sys.argv[1]), BlastRadius(("shop",), 3, 60))
print(platform.cut_network("shop", {"app": "orders", "zone": "a"}, name="orphan", lease_s=1),
      flush=True)
time.sleep(120)
"""


@pytest.mark.integration  # the orphaning process is real; the reaper's clock is not
def test_a_cut_left_by_a_sigkilled_process_is_reaped_once_its_lease_expires(
    cluster: KmockCluster,
) -> None:
    cluster.add_pod("shop", "web-0", app="orders", zone="a")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, cluster.url],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout = child.stdout
    assert stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=60)
    finally:
        child.send_signal(signal.SIGKILL)
        _, stderr = child.communicate(timeout=10)
    assert line.strip() == "peakops-orphan", stderr
    assert child.returncode == -signal.SIGKILL

    stored = cluster.get(POLICIES, "shop", "peakops-orphan")
    assert stored is not None
    expires = datetime.fromisoformat(stored["metadata"]["annotations"][EXPIRES_AT])
    assert expires.tzinfo == UTC
    deadline = expires.timestamp()

    def reaper(now: float) -> KubernetesPlatform:
        return KubernetesPlatform(cluster.clients(), RADIUS, clock=lambda: now)

    assert reaper(deadline - 0.5).reap(["shop"]) == []
    assert cluster.names(POLICIES, "shop") == ["peakops-orphan"]
    assert reaper(deadline).reap(["shop"]) == ["shop/peakops-orphan"]
    assert cluster.names(POLICIES, "shop") == []


# ---------------------------------------------------------------- deployments


def test_deployment_revision_reads_the_revision_annotation(
    cluster: KmockCluster, make_platform: MakePlatform
) -> None:
    spec = {"selector": {"matchLabels": {"app": "orders"}}, "template": {}}
    annotations = {"deployment.kubernetes.io/revision": "7"}
    cluster.add(
        DEPLOYMENTS,
        "shop",
        {"metadata": {"name": "orders", "annotations": annotations}, "spec": spec},
    )
    cluster.add(DEPLOYMENTS, "shop", {"metadata": {"name": "fresh"}, "spec": spec})
    platform = make_platform()
    assert platform.deployment_revision("shop", "orders") == 7
    assert platform.deployment_revision("shop", "fresh") is None
    with pytest.raises(UsageError, match="deployment shop/ghost not found"):
        platform.deployment_revision("shop", "ghost")
