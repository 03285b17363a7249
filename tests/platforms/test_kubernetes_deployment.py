"""KubernetesDeployment against kmock over real HTTP on 127.0.0.1, plus a contract fake.

kmock runs no controllers: a PATCH changes the stored Deployment and nothing else (no
new ReplicaSet, no revision bump), so each test asserts the exact requests sent and
the Deployment left in the emulator.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import kmock
import pytest

from platforms.base import Endpoints, FaultTargets
from platforms.kubernetes import KubeClients, build_clients
from platforms.kubernetes_deployment import LAST_APPLIED, KubernetesDeployment
from platforms.kubernetes_leases import EXPIRES_AT, MANAGED_BY
from slo.errors import InfraError, PeakopsError, RevertError, UsageError
from slo.exitcodes import ExitCode
from tests.platforms.test_kubernetes_contract import RecordingRest, status
from tests.platforms.test_kubernetes_harness import DEPLOYMENTS, POLICIES, Call, KmockCluster

REPLICASETS = kmock.resource("apps/v1/replicasets")
REVISION = "deployment.kubernetes.io/revision"
DEPLOYMENT_PATH = "/apis/apps/v1/namespaces/shop/deployments/oms"
REPLICASETS_PATH = "/apis/apps/v1/namespaces/shop/replicasets"
ENDPOINTS = Endpoints(base_url="http://127.0.0.1:8080")
NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def template(image: str, pod_hash: str | None = None) -> dict[str, Any]:
    labels = {"app": "oms"} | ({"pod-template-hash": pod_hash} if pod_hash else {})
    return {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "oms", "image": image}]},
    }


def deployment(image: str = "oms:3", **spec: Any) -> dict[str, Any]:
    """``oms`` at revision 3, with its own annotations and some of the ReplicaSet's."""
    annotations = {
        REVISION: "3",
        "deployment.kubernetes.io/max-replicas": "4",
        LAST_APPLIED: '{"kind":"Deployment"}',
        "kubernetes.io/change-cause": "release v3",
        "team": "checkout",
    }
    return {
        "metadata": {"name": "oms", "annotations": annotations, "generation": 4},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "oms"}},
            "template": template(image),
            **spec,
        },
        "status": {"observedGeneration": 4, "replicas": 3, "availableReplicas": 3},
    }


def replica_set(
    name: str, revision: int, owner_uid: str, *, controller: bool = True
) -> dict[str, Any]:
    pod_hash = f"hash{revision}"
    return {
        "metadata": {
            "name": name,
            "labels": {"app": "oms", "pod-template-hash": pod_hash},
            "annotations": {
                REVISION: str(revision),
                "deployment.kubernetes.io/desired-replicas": "3",
                "kubernetes.io/change-cause": f"release v{revision}",
                LAST_APPLIED: '{"old":true}',
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "oms",
                    "uid": owner_uid,
                    "controller": controller,
                }
            ],
        },
        "spec": {"replicas": 0, "template": template(f"oms:{revision}", pod_hash)},
    }


def seed(cluster: KmockCluster, manifest: dict[str, Any], revisions: tuple[int, ...]) -> str:
    """The deployment, its ReplicaSets, and two impostors with the same labels."""
    uid = cluster.add(DEPLOYMENTS, "shop", manifest)
    for revision in revisions:
        cluster.add(REPLICASETS, "shop", replica_set(f"oms-{revision}", revision, uid))
    cluster.add(REPLICASETS, "shop", replica_set("other-9", 9, "someone-else"))
    cluster.add(REPLICASETS, "shop", replica_set("adopted-8", 8, uid, controller=False))
    return uid


@pytest.fixture
def cluster() -> Iterator[KmockCluster]:
    with KmockCluster() as cluster:
        yield cluster


def make(cluster: KmockCluster, name: str = "oms", **kwargs: Any) -> KubernetesDeployment:
    return KubernetesDeployment(cluster.clients(), "shop", name, ENDPOINTS, **kwargs)


def stored(cluster: KmockCluster) -> dict[str, Any]:
    manifest = cluster.get(DEPLOYMENTS, "shop", "oms")
    assert manifest is not None
    return manifest


def rollback_call(revision: int) -> Call:
    annotations = {
        REVISION: "3",
        "deployment.kubernetes.io/max-replicas": "4",
        LAST_APPLIED: '{"kind":"Deployment"}',
        "kubernetes.io/change-cause": f"release v{revision}",
    }
    body = [
        {"op": "replace", "path": "/spec/template", "value": template(f"oms:{revision}")},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]
    return Call("PATCH", DEPLOYMENT_PATH, {}, "application/json-patch+json", body)


# ------------------------------------------------------------------ reading


def test_revisions_come_from_the_replicasets_it_controls_only(cluster: KmockCluster) -> None:
    seed(cluster, deployment(), (1, 2, 3))
    target = make(cluster)
    target.start()
    assert target.revisions() == ["1", "2", "3"]  # not 8 (not controller), not 9 (foreign)
    assert target.current_revision() == "3"


def test_revisions_sort_as_numbers(cluster: KmockCluster) -> None:
    seed(cluster, deployment(), (10, 2, 9))
    assert make(cluster).revisions() == ["2", "9", "10"]


def test_start_names_a_missing_deployment(cluster: KmockCluster) -> None:
    with pytest.raises(UsageError, match="deployment shop/ghost not found") as caught:
        make(cluster, "ghost").start()
    assert caught.value.exit_code == ExitCode.USAGE


def test_a_namespace_outside_the_allowlist_is_refused(cluster: KmockCluster) -> None:
    with pytest.raises(UsageError, match="namespace 'shop' is not allowlisted"):
        make(cluster, allowed_namespaces=("cart",))


def test_stop_leaves_the_deployment_alone(cluster: KmockCluster) -> None:
    seed(cluster, deployment(), (1, 2, 3))
    mark = cluster.mark()
    make(cluster).stop()
    assert cluster.calls(mark) == []
    assert make(cluster).fault_targets() == FaultTargets(kind="kubernetes", namespace="shop")


@pytest.mark.parametrize(
    ("status_", "ok", "detail"),
    [
        ({"observedGeneration": 4, "availableReplicas": 3}, True, "3/3 replicas available"),
        ({"observedGeneration": 4, "availableReplicas": 2}, False, "2/3 replicas available"),
        ({"observedGeneration": 4}, False, "0/3 replicas available"),
        ({"observedGeneration": 3, "availableReplicas": 3}, False, "generation 4 not observed"),
    ],
    ids=[
        "every desired replica available is healthy",
        "one replica short is not healthy",
        "no available replicas at all is not healthy",
        "a spec the controller has not seen yet is not healthy",
    ],
)
def test_health_follows_the_deployment_status(
    cluster: KmockCluster, status_: dict[str, int], ok: bool, detail: str
) -> None:
    manifest = deployment()
    manifest["status"] = status_
    seed(cluster, manifest, (1, 2, 3))
    health = make(cluster).health()
    assert health.ok is ok
    assert health.detail.startswith("deployment shop/oms: ")
    assert detail in health.detail


def test_health_of_a_missing_deployment_is_not_ok(cluster: KmockCluster) -> None:
    health = make(cluster, "ghost").health()
    assert (health.ok, health.detail) == (False, "deployment shop/ghost not found")


# ------------------------------------------------------------------ rollback


def test_rollback_sends_one_json_patch_like_kubectl_and_returns_the_previous_revision(
    cluster: KmockCluster,
) -> None:
    seed(cluster, deployment(), (1, 2, 3))
    mark = cluster.mark()

    assert make(cluster).rollback() == "2"

    calls = cluster.calls(mark)
    assert [(c.method, c.path) for c in calls[:2]] == [
        ("GET", DEPLOYMENT_PATH),
        ("GET", REPLICASETS_PATH),
    ]
    assert calls[1].params == {"labelSelector": "app=oms"}
    assert cluster.mutating(mark) == [rollback_call(2)]
    after = stored(cluster)
    assert after["spec"]["template"] == template("oms:2")
    assert after["metadata"]["annotations"] == rollback_call(2).body[1]["value"]


def test_rollback_to_a_given_revision_restores_that_one(cluster: KmockCluster) -> None:
    seed(cluster, deployment(), (1, 2, 3))
    mark = cluster.mark()
    assert make(cluster).rollback("1") == "1"
    assert cluster.mutating(mark) == [rollback_call(1)]


def test_a_revision_whose_template_is_already_in_place_sends_no_patch(
    cluster: KmockCluster,
) -> None:
    seed(cluster, deployment(image="oms:2"), (1, 2, 3))
    mark = cluster.mark()
    assert make(cluster).rollback() == "2"
    assert cluster.mutating(mark) == []


def test_a_second_rollback_is_a_no_op(cluster: KmockCluster) -> None:
    seed(cluster, deployment(), (1, 2, 3))
    target = make(cluster)
    target.rollback()
    mark = cluster.mark()
    assert target.rollback() == "2"
    assert cluster.mutating(mark) == []
    assert [(c.method, c.path) for c in cluster.calls(mark)] == [("GET", DEPLOYMENT_PATH)]


def test_a_paused_deployment_is_refused_and_nothing_is_sent(cluster: KmockCluster) -> None:
    seed(cluster, deployment(paused=True), (1, 2, 3))
    mark = cluster.mark()
    with pytest.raises(UsageError, match="cannot roll back deployment shop/oms: it is paused"):
        make(cluster).rollback()
    assert cluster.mutating(mark) == []


@pytest.mark.parametrize("revision", ["7", "9", "two"], ids=["unknown", "foreign", "not a number"])
def test_an_unknown_revision_is_refused_and_nothing_is_sent(
    cluster: KmockCluster, revision: str
) -> None:
    seed(cluster, deployment(), (1, 2, 3))
    mark = cluster.mark()
    with pytest.raises(UsageError, match=r"has no revision .* \(known: 1, 2, 3\)"):
        make(cluster).rollback(revision)
    assert cluster.mutating(mark) == []


def test_without_a_previous_revision_the_rollback_fails(cluster: KmockCluster) -> None:
    seed(cluster, deployment(), (3,))
    with pytest.raises(RevertError, match="cannot roll back deployment shop/oms") as caught:
        make(cluster).rollback()
    assert caught.value.exit_code == ExitCode.REVERT_FAILED
    assert cluster.mutating() == []


def test_deploy_rolls_forward_to_a_known_revision_and_refuses_unknown_ones(
    cluster: KmockCluster,
) -> None:
    seed(cluster, deployment(image="oms:2"), (1, 2, 3))
    target = make(cluster)
    target.deploy("3")
    assert stored(cluster)["spec"]["template"] == template("oms:3")
    with pytest.raises(UsageError, match="has no revision '4'"):
        target.deploy("4")
    assert len(cluster.mutating()) == 1


# ------------------------------------------------------------------ faults


def test_reap_faults_deletes_only_expired_peakops_policies_in_the_namespace(
    cluster: KmockCluster,
) -> None:
    def policy(name: str, expires_at: str) -> dict[str, Any]:
        meta = {"name": name, "labels": {MANAGED_BY: "peakops"}}
        return {"metadata": meta | {"annotations": {EXPIRES_AT: expires_at}}, "spec": {}}

    cluster.add(POLICIES, "shop", policy("peakops-old", "2023-11-14T22:13:00Z"))
    cluster.add(POLICIES, "shop", policy("peakops-live", "2023-11-14T22:14:00Z"))
    cluster.add(POLICIES, "cart", policy("peakops-elsewhere", "2023-11-14T22:13:00Z"))
    assert make(cluster, clock=lambda: NOW).reap_faults() == ["shop/peakops-old"]
    assert cluster.names(POLICIES, "shop") == ["peakops-live"]
    assert cluster.names(POLICIES, "cart") == ["peakops-elsewhere"]


# ------------------------------------------------------------------ contract fake


def _answers(fake: RecordingRest, manifest: dict[str, Any], patch: tuple[int, Any]) -> None:
    uid = "uid-oms"
    manifest = copy.deepcopy(manifest)
    manifest["metadata"]["uid"] = uid
    items = [replica_set(f"oms-{r}", r, uid) for r in (1, 2, 3)]
    fake.answer("GET", DEPLOYMENT_PATH, (200, manifest))
    fake.answer("GET", REPLICASETS_PATH, (200, {"kind": "ReplicaSetList", "items": items}))
    fake.answer("PATCH", DEPLOYMENT_PATH, patch)


@pytest.fixture
def fake_clients() -> Iterator[tuple[RecordingRest, KubeClients]]:
    fake = RecordingRest()
    clients = build_clients(host="http://127.0.0.1:9")  # nothing is ever sent there
    clients.api_client.rest_client = fake  # type: ignore[assignment]
    yield fake, clients
    clients.close()


def test_every_call_carries_the_request_timeout(
    fake_clients: tuple[RecordingRest, KubeClients],
) -> None:
    fake, clients = fake_clients
    _answers(fake, deployment(), (200, {}))
    target = KubernetesDeployment(clients, "shop", "oms", ENDPOINTS, request_timeout_s=7.5)
    assert target.rollback() == "2"
    assert fake.calls() == [
        ("GET", DEPLOYMENT_PATH),
        ("GET", REPLICASETS_PATH),
        ("PATCH", DEPLOYMENT_PATH),
    ]
    assert [sent.timeout for sent in fake.sent] == [7.5, 7.5, 7.5]


@pytest.mark.parametrize(
    ("call", "error", "code"),
    [
        (lambda t: t.rollback(), RevertError, ExitCode.REVERT_FAILED),
        (lambda t: t.deploy("1"), InfraError, ExitCode.INFRA),
    ],
    ids=["a failed rollback patch is a revert error", "a failed deploy is an infra error"],
)
def test_a_failing_patch_is_reported_with_the_servers_message(
    fake_clients: tuple[RecordingRest, KubeClients],
    call: Callable[[KubernetesDeployment], object],
    error: type[PeakopsError],
    code: ExitCode,
) -> None:
    fake, clients = fake_clients
    _answers(fake, deployment(), status(500, "etcd is sad"))
    with pytest.raises(
        error, match=r"patching deployment shop/oms: http 500.*etcd is sad"
    ) as caught:
        call(KubernetesDeployment(clients, "shop", "oms", ENDPOINTS))
    assert caught.value.exit_code == code
