"""Aborting an Argo Rollout, as ``kubectl argo rollouts abort`` does, against kmock.

kmock emulates the Kubernetes API over real HTTP on 127.0.0.1 because a cluster cannot
run here; it stores the Rollout like any custom resource.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from platforms.kubernetes_argo import ArgoRollouts, abort_status
from tests.platforms.test_kubernetes_rollback import ROLLOUT_PATH, ROLLOUTS, Cluster, argo_rollout


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with Cluster() as cluster:
        yield cluster


def test_an_argo_abort_patches_the_status_subresource_like_the_plugin(cluster: Cluster) -> None:
    cluster.add(ROLLOUTS, "shop", argo_rollout())
    mark = cluster.mark()
    assert ArgoRollouts(cluster.clients()).abort("shop", "web") == "status"
    [patch] = cluster.patches(mark)
    assert (patch.path, patch.content_type, patch.body) == (
        f"{ROLLOUT_PATH}/status", "application/merge-patch+json", {"status": {"abort": True}},
    )  # fmt: skip


def test_an_argo_abort_falls_back_to_the_object_without_a_status_subresource(
    cluster: Cluster,
) -> None:
    cluster.add(ROLLOUTS, "shop", argo_rollout())
    cluster.run(lambda: (cluster.emulator**200)[f"patch {ROLLOUT_PATH}/status"] << 404)
    mark = cluster.mark()
    assert ArgoRollouts(cluster.clients()).abort("shop", "web") == "object"
    assert [(p.path, p.body) for p in cluster.patches(mark)] == [
        (f"{ROLLOUT_PATH}/status", {"status": {"abort": True}}),
        (ROLLOUT_PATH, {"status": {"abort": True}}),
    ]


@pytest.mark.parametrize(
    ("status", "done"),
    [
        ({"abort": True, "phase": "Degraded", "message": "RolloutAborted: aborted"}, True),
        ({"abort": True, "phase": "Paused", "message": "CanaryPauseStep"}, False),
        ({"phase": "Degraded", "message": "RolloutAborted: aborted"}, False),
    ],
    ids=["argo reports the abort: done", "not yet acted on: waiting",
         "degraded without our abort flag: waiting"],
)  # fmt: skip
def test_abort_status(status: dict[str, object], done: bool) -> None:
    assert abort_status(argo_rollout(**status))[0] is done
