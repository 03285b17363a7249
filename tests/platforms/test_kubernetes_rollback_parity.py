"""Parity with ``kubectl rollout undo``: our rollback PATCH is the one kubectl sends.

kmock emulates the Kubernetes API on 127.0.0.1 because a cluster cannot run here. Two
emulators are seeded with the same state (same uids, objects as a real API server
serves them); the real ``kubectl`` on PATH is pointed at one through a temporary
kubeconfig (server = the kmock URL, insecure), peakops at the other, and the PATCH
bodies each emulator recorded are compared as parsed JSON. The emulator serves the
discovery documents kubectl needs (see :data:`DISCOVERY`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from platforms.kubernetes_rollback import DeploymentRollback
from rollout.rollback_audit import RunAudit
from rollout.rollback_kubernetes import RollbackRequest, rollback_deployment
from tests.platforms.test_kubernetes_harness import DEPLOYMENTS, Call
from tests.platforms.test_kubernetes_rollback import (
    DEPLOYMENT_PATH,
    REPLICASETS,
    Cluster,
    deployment,
    replica_set,
)

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")

UID = "6b0c0f5e-2a9e-4c51-9a53-7f1c2d3e4f50"
KEPT = {
    "argocd.argoproj.io/tracking-id": "shop:apps/Deployment:shop/oms",
    "peakops.dev/bad-revision": "1",
}


def seed(cluster: Cluster, extra: dict[str, str]) -> None:
    manifest = deployment()
    manifest["metadata"]["uid"] = UID
    manifest["metadata"]["annotations"] |= extra
    cluster.add(DEPLOYMENTS, "shop", manifest)
    for revision in (1, 2, 3):
        cluster.add(REPLICASETS, "shop", replica_set(revision, UID))


@pytest.fixture
def twins() -> Iterator[tuple[Cluster, Cluster]]:
    with Cluster() as theirs, Cluster() as ours:
        yield theirs, ours


def kubectl_patch(cluster: Cluster, tmp_path: Path, *args: str) -> Call:
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: kmock\n"
        f"clusters:\n- name: kmock\n  cluster: {{server: '{cluster.url}', "
        "insecure-skip-tls-verify: true}\n"
        "contexts:\n- name: kmock\n  context: {cluster: kmock, user: nobody, namespace: shop}\n"
        "users:\n- name: nobody\n  user: {}\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "KUBECONFIG": str(config)}
    command = [str(KUBECTL), "--cache-dir", str(tmp_path / "cache"), "rollout", "undo",
               "deployment/oms", "-n", "shop", *args]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "rolled back" in done.stdout
    [patch] = cluster.patches()
    return patch


def our_patch(cluster: Cluster, to_revision: int | None) -> Call:
    request = RollbackRequest("shop", "oms", to_revision=to_revision, reason="parity")
    audit = RunAudit(None, "run-parity")
    rollback_deployment(DeploymentRollback(cluster.clients()), request, ("shop",), audit)
    patches = cluster.patches()
    assert [p.content_type for p in patches] == [
        "application/json-patch+json",  # the rollback
        "application/merge-patch+json",  # then the marks and the audit record
    ]
    return patches[0]


@pytest.mark.parametrize(
    "to_revision", [None, 1], ids=["rollout undo", "rollout undo --to-revision=1"]
)
def test_our_rollback_patch_equals_kubectls(
    twins: tuple[Cluster, Cluster], tmp_path: Path, to_revision: int | None
) -> None:
    theirs, ours = twins
    seed(theirs, {})
    seed(ours, {})
    args = () if to_revision is None else (f"--to-revision={to_revision}",)
    expected = kubectl_patch(theirs, tmp_path, *args)
    got = our_patch(ours, to_revision)
    assert (got.path, got.content_type) == (DEPLOYMENT_PATH, expected.content_type)
    assert got.body == expected.body
    image = "oms:2" if to_revision is None else "oms:1"
    assert got.body[0]["value"]["spec"]["containers"][0]["image"] == image


def test_the_only_difference_is_the_annotations_kubectl_drops(
    twins: tuple[Cluster, Cluster], tmp_path: Path
) -> None:
    theirs, ours = twins
    seed(theirs, KEPT)
    seed(ours, KEPT)
    expected = kubectl_patch(theirs, tmp_path).body
    got = our_patch(ours, None).body
    assert got[0] == expected[0]  # the same template
    dropped: dict[str, Any] = {k: v for k, v in KEPT.items() if k not in expected[1]["value"]}
    assert dropped == KEPT  # kubectl drops both ...
    assert got[1]["value"] == expected[1]["value"] | KEPT  # ... peakops keeps exactly those
