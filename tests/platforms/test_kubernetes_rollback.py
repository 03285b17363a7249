"""The Deployment rollback's API calls and pure rules, against kmock over real HTTP.

kmock emulates the Kubernetes API on 127.0.0.1 because a cluster cannot run here. It
runs no controllers, so :class:`FakeController` does, on demand, what the deployment
controller would after a rollback PATCH: bump the generation, renumber the restored
ReplicaSet to the newest revision, and report the rollout complete. Objects are seeded
as a real API server serves them (kind, apiVersion, defaulted pod templates), and the
lists come back typed (``ReplicaSetList``) with discovery served, so kubectl can talk
to the same emulator (tests/platforms/test_kubernetes_rollback_parity.py).

The other rollback test modules import their fixtures from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kmock
import pytest

from platforms.kubernetes_rollback import (
    DeploymentRollback,
    RolloutStatus,
    choose_replica_set,
    fingerprint,
    pod_template,
    rollout_status,
    undo_patch,
)
from slo.errors import RevertError, UsageError
from tests.platforms.test_kubernetes_harness import (
    DEPLOYMENTS,
    KmockCluster,
    _parse_selector,
)

REPLICASETS = kmock.resource("apps/v1/replicasets")
EVENTS = kmock.resource("v1/events")
ROLLOUTS = kmock.resource("argoproj.io/v1alpha1/rollouts")
REVISION = "deployment.kubernetes.io/revision"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
DEPLOYMENT_PATH = "/apis/apps/v1/namespaces/shop/deployments/oms"
ROLLOUT_PATH = "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/web"

_LIST_KINDS = {
    "replicasets": ("apps/v1", "ReplicaSetList"),
    "deployments": ("apps/v1", "DeploymentList"),
    "events": ("v1", "EventList"),
}


def _resource(name: str, kind: str) -> dict[str, Any]:
    verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
    return {"name": name, "singularName": kind.lower(), "namespaced": True, "kind": kind,
            "verbs": verbs}  # fmt: skip


DISCOVERY: dict[str, Any] = {
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/apis": {
        "kind": "APIGroupList", "apiVersion": "v1",
        "groups": [{"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                    "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}],
    },
    "/api/v1": {
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
        "resources": [_resource("events", "Event"), _resource("pods", "Pod")],
    },
    "/apis/apps/v1": {
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "apps/v1",
        "resources": [_resource("deployments", "Deployment"),
                      _resource("replicasets", "ReplicaSet")],
    },
}  # fmt: skip
"""What kubectl's discovery needs; kmock 0.8 answers ``/api/v1`` with a broken ``/v1``."""


def template(image: str, pod_hash: str | None = None) -> dict[str, Any]:
    """A pod template as the API server returns it (defaults filled in)."""
    labels = {"app": "oms"} | ({"pod-template-hash": pod_hash} if pod_hash else {})
    container = {
        "name": "oms", "image": image, "imagePullPolicy": "IfNotPresent", "resources": {},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }  # fmt: skip
    return {
        "metadata": {"creationTimestamp": None, "labels": labels},
        "spec": {
            "containers": [container], "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
            "schedulerName": "default-scheduler", "securityContext": {},
            "terminationGracePeriodSeconds": 30,
        },
    }  # fmt: skip


def deployment(image: str = "oms:3", *, revision: int = 3, **spec: Any) -> dict[str, Any]:
    annotations = {
        REVISION: str(revision),
        LAST_APPLIED: '{"kind":"Deployment"}',
        "kubernetes.io/change-cause": f"release v{revision}",
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "oms", "annotations": annotations, "generation": 4,
                     "resourceVersion": "100"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "oms"}},
                 "template": template(image), **spec},
        "status": {"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3,
                   "readyReplicas": 3, "availableReplicas": 3},
    }  # fmt: skip


def replica_set(revision: int, owner_uid: str, *, image: str | None = None) -> dict[str, Any]:
    pod_hash = f"hash{revision}"
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": f"oms-{pod_hash}",
            "labels": {"app": "oms", "pod-template-hash": pod_hash},
            "annotations": {
                REVISION: str(revision),
                "deployment.kubernetes.io/desired-replicas": "3",
                "deployment.kubernetes.io/max-replicas": "4",
                "kubernetes.io/change-cause": f"release v{revision}",
            },
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "oms",
                                 "uid": owner_uid, "controller": True,
                                 "blockOwnerDeletion": True}],
        },
        "spec": {"replicas": 0,
                 "selector": {"matchLabels": {"app": "oms", "pod-template-hash": pod_hash}},
                 "template": template(image or f"oms:{revision}", pod_hash)},
    }  # fmt: skip


def argo_rollout(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "web", "annotations": {"rollout.argoproj.io/revision": "7"}},
        "spec": {"replicas": 3, "template": template("web:7")},
        "status": {"phase": "Paused", "message": "CanaryPauseStep", **status},
    }  # fmt: skip


class Cluster(KmockCluster):
    """The kmock harness, plus discovery and typed lists (what kubectl needs)."""

    def __enter__(self) -> Cluster:
        super().__enter__()

        def install() -> None:
            emulator = self.emulator
            for path, payload in DISCOVERY.items():
                (emulator**100)[f"get {path}"] << payload
            (emulator**50)[kmock.action.LIST] << self._typed_list

        self.run(install)
        return self

    def _typed_list(self, request: kmock.Request) -> dict[str, Any]:
        wanted = _parse_selector(request.params.get("labelSelector", ""))
        items = []
        for (resource, namespace, _), obj in self.emulator.objects.items():
            if resource != request.resource or obj.deleted:
                continue
            if request.namespace is not None and namespace != request.namespace:
                continue
            labels = obj.raw.get("metadata", {}).get("labels") or {}
            if all(labels.get(key) == value for key, value in wanted.items()):
                items.append(obj.raw)
        assert request.resource is not None
        api, kind = _LIST_KINDS.get(str(request.resource.plural), ("v1", "List"))
        return {"apiVersion": api, "kind": kind, "metadata": {"resourceVersion": "1"},
                "items": items}  # fmt: skip

    def seed(self, manifest: dict[str, Any], revisions: tuple[int, ...] = (1, 2, 3)) -> str:
        """The Deployment, its ReplicaSets, and an impostor with the same labels."""
        uid = self.add(DEPLOYMENTS, "shop", manifest)
        for revision in revisions:
            self.add(REPLICASETS, "shop", replica_set(revision, uid))
        impostor = replica_set(9, "someone-else")
        impostor["metadata"]["name"] = "other-hash9"
        self.add(REPLICASETS, "shop", impostor)
        return uid

    def deployment(self) -> dict[str, Any]:
        stored = self.get(DEPLOYMENTS, "shop", "oms")
        assert stored is not None
        return stored

    def patches(self, since: int = 0) -> list[Any]:
        return [call for call in self.calls(since) if call.method == "PATCH"]

    def events(self) -> list[dict[str, Any]]:
        names = self.names(EVENTS, "shop")
        return [event for name in names if (event := self.get(EVENTS, "shop", name))]


class FakeController:
    """What the deployment controller does after a rollback, done when asked."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.reconciles = 0

    def reconcile(self, _sleep_s: float = 0.0) -> None:
        """Renumber the ReplicaSet now running to the newest revision; finish the rollout."""
        self.reconciles += 1

        def work() -> None:
            objects = self.cluster.emulator.objects
            dep = objects[DEPLOYMENTS, "shop", "oms"]
            current = pod_template(dep.raw)
            owned = [obj for (res, _, _), obj in objects.items() if res == REPLICASETS
                     and obj.raw["metadata"]["ownerReferences"][0]["uid"]
                     == dep.raw["metadata"]["uid"]]  # fmt: skip
            newest = max(int(obj.raw["metadata"]["annotations"][REVISION]) for obj in owned)
            meta = dep.raw["metadata"]
            for obj in owned:
                rev = int(obj.raw["metadata"]["annotations"][REVISION])
                if pod_template(obj.raw) == current and rev != newest:
                    obj.patch({"metadata": {"annotations": {REVISION: str(newest + 1)}}})
                    newest += 1
            generation = meta["generation"] + 1
            dep.patch({
                "metadata": {"generation": generation,
                             "annotations": {REVISION: str(newest)}},
                "status": {"observedGeneration": generation, "updatedReplicas": 3,
                           "replicas": 3, "availableReplicas": 3},
            })  # fmt: skip

        self.cluster.run(work)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with Cluster() as cluster:
        yield cluster


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# ------------------------------------------------------------------ reading and choosing


def test_the_history_is_the_replicasets_the_deployment_controls_sorted_by_revision(
    cluster: Cluster,
) -> None:
    cluster.seed(deployment(), (10, 2, 9))
    state = DeploymentRollback(cluster.clients()).state("shop", "oms")
    assert [number for number, _ in state.history] == [2, 9, 10]  # not the impostor's 9
    assert state.revision == "3"
    assert state.fingerprint == fingerprint(template("oms:3"))


@pytest.mark.parametrize(
    ("to_revision", "chosen"),
    [(None, 2), (1, 1), (3, 3)],
    ids=["without a revision the second newest is chosen", "a given revision is chosen",
         "the current revision can be chosen (the policy then says nothing to do)"],
)  # fmt: skip
def test_choose_follows_kubectl(cluster: Cluster, to_revision: int | None, chosen: int) -> None:
    cluster.seed(deployment())
    state = DeploymentRollback(cluster.clients()).state("shop", "oms")
    assert choose_replica_set(state, to_revision)[0] == chosen


def test_an_unknown_revision_names_the_known_ones_and_no_history_is_a_revert_error(
    cluster: Cluster,
) -> None:
    cluster.seed(deployment(), (3,))
    state = DeploymentRollback(cluster.clients()).state("shop", "oms")
    with pytest.raises(UsageError, match=r"has no revision 9 \(known: 3\)"):
        choose_replica_set(state, 9)
    with pytest.raises(RevertError, match="no previous revision"):
        choose_replica_set(state, None)


def test_a_missing_deployment_is_a_usage_error_naming_it(cluster: Cluster) -> None:
    with pytest.raises(UsageError, match="deployment shop/ghost not found"):
        DeploymentRollback(cluster.clients()).state("shop", "ghost")


# ------------------------------------------------------------------ the patch (pure)


def test_the_patch_restores_the_template_without_its_hash_and_kubectls_annotations() -> None:
    own = deployment()
    recorded = replica_set(2, "uid")
    patch = undo_patch(own, recorded)
    assert patch[0] == {"op": "replace", "path": "/spec/template", "value": template("oms:2")}
    assert patch[1] == {
        "op": "replace",
        "path": "/metadata/annotations",
        "value": {
            REVISION: "3",  # the Deployment's own, as kubectl (desired/max-replicas too:
            LAST_APPLIED: '{"kind":"Deployment"}',  # this Deployment has none, so none)
            "kubernetes.io/change-cause": "release v2",  # the revision's
        },
    }


def test_annotations_kubectl_would_drop_are_kept_but_change_cause_follows_the_revision() -> None:
    own = deployment()
    own["metadata"]["annotations"] |= {
        "argocd.argoproj.io/tracking-id": "shop:apps/Deployment:shop/oms",
        "peakops.dev/bad-revision": "1",
    }
    recorded = replica_set(2, "uid")
    del recorded["metadata"]["annotations"]["kubernetes.io/change-cause"]
    recorded["metadata"]["annotations"]["peakops.dev/bad-revision"] = (
        "stale, copied by the controller"
    )
    annotations = undo_patch(own, recorded)[1]["value"]
    assert annotations["argocd.argoproj.io/tracking-id"] == "shop:apps/Deployment:shop/oms"
    assert annotations["peakops.dev/bad-revision"] == "1"  # the Deployment's, never the RS's
    assert "kubernetes.io/change-cause" not in annotations  # v3's cause would be a lie


@pytest.mark.parametrize(
    ("status", "done", "failed", "detail"),
    [
        ({"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3},
         True, False, "3/3 replicas updated and available"),
        ({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3},
         False, False, "generation 4 not observed yet"),
        ({"observedGeneration": 4, "replicas": 3, "updatedReplicas": 1, "availableReplicas": 3},
         False, False, "1 of 3 replicas updated"),
        ({"observedGeneration": 4, "replicas": 4, "updatedReplicas": 3, "availableReplicas": 3},
         False, False, "1 old replicas pending termination"),
        ({"observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2},
         False, False, "2 of 3 updated replicas available"),
        ({"observedGeneration": 4, "conditions": [
            {"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]},
         False, True, "it exceeded its progress deadline"),
    ],
    ids=["observed, updated and available is done", "an unobserved spec is not done",
         "replicas not yet updated are not done", "old replicas still running are not done",
         "updated replicas not yet available are not done",
         "an exceeded progress deadline is a failure"],
)  # fmt: skip
def test_rollout_status_follows_kubectl_rollout_status(
    status: dict[str, Any], done: bool, failed: bool, detail: str
) -> None:
    manifest = deployment()
    manifest["status"] = status
    assert rollout_status(manifest) == RolloutStatus(done, failed, detail)


# ------------------------------------------------------------------ waiting


def test_wait_polls_until_the_controller_reports_the_rollout_complete(cluster: Cluster) -> None:
    manifest = deployment()
    manifest["status"]["observedGeneration"] = 3
    cluster.seed(manifest)
    controller, clock = FakeController(cluster), FakeClock()
    engine = DeploymentRollback(cluster.clients(), clock=clock, sleep=controller.reconcile)
    mark = cluster.mark()
    status = engine.wait("shop", "oms", timeout_s=30, poll_s=2)
    assert status.done and controller.reconciles == 1
    assert [call.method for call in cluster.calls(mark)] == ["GET", "GET"]


def test_wait_gives_up_at_the_timeout_with_a_revert_error(cluster: Cluster) -> None:
    manifest = deployment()
    manifest["status"]["updatedReplicas"] = 1
    cluster.seed(manifest)
    clock = FakeClock()
    engine = DeploymentRollback(cluster.clients(), clock=clock, sleep=clock.sleep)
    with pytest.raises(RevertError, match=r"did not complete within 5 s: 1 of 3 replicas updated"):
        engine.wait("shop", "oms", timeout_s=5, poll_s=2)
    assert clock.slept == [2, 2, 1]
