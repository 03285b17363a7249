"""Kubernetes rollback end to end (policy, patch, marks, Event, events.jsonl, wait), on kmock.

kmock emulates the Kubernetes API over real HTTP on 127.0.0.1 because a cluster cannot
run here; :class:`FakeController` plays the deployment controller where a test needs it
(renumbering the restored revision, finishing the rollout). Every test asserts the
requests the emulator recorded, not only what the code returned.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors.rundir import RunDir
from platforms.kubernetes_argo import ArgoRollouts
from platforms.kubernetes_rollback import DeploymentRollback, fingerprint
from rollout.rollback_audit import RunAudit
from rollout.rollback_kubernetes import (
    RollbackRequest,
    abort_rollout,
    rollback_deployment,
)
from rollout.rollback_policy import RollbackRefused
from slo.errors import RevertError, UsageError
from slo.exitcodes import ExitCode
from tests.platforms.test_kubernetes_rollback import (
    DEPLOYMENT_PATH,
    ROLLOUT_PATH,
    ROLLOUTS,
    Cluster,
    FakeClock,
    FakeController,
    argo_rollout,
    deployment,
    template,
)

ALLOWED = ("shop",)
NOW = 1_795_000_000.0  # 2026-11-18T...


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with Cluster() as cluster:
        yield cluster


@pytest.fixture
def run(tmp_path: Path) -> RunDir:
    return RunDir.create(tmp_path, "20261127-000000-abcd", plan={}, git_sha=None)


def engine(cluster: Cluster, **kwargs: Any) -> DeploymentRollback:
    return DeploymentRollback(cluster.clients(), now=lambda: NOW, **kwargs)


def roll(
    cluster: Cluster, run: RunDir | None = None, *, run_id: str = "run-a", **request: Any
) -> Any:
    audit = RunAudit(run, run.run_id if run else run_id)
    try:
        return rollback_deployment(
            engine(cluster), RollbackRequest("shop", "oms", reason="p99 breach", **request),
            ALLOWED, audit, now=lambda: NOW,
        )  # fmt: skip
    finally:
        audit.close()


def events(run: RunDir) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k not in ("ts", "at")} for e in run.events()]


# ------------------------------------------------------------------ rolling back


def test_the_previous_revision_is_patched_marked_and_audited(cluster: Cluster, run: RunDir) -> None:
    uid = cluster.seed(deployment())
    mark = cluster.mark()

    outcome = roll(cluster, run)

    assert (outcome.action, outcome.from_revision, outcome.to_revision) == ("rolled_back", "3", "2")
    rollback, marks = cluster.patches(mark)
    assert marks.content_type == "application/merge-patch+json"
    assert (rollback.path, rollback.content_type) == (
        DEPLOYMENT_PATH,
        "application/json-patch+json",
    )
    assert rollback.body == outcome.patch
    assert rollback.body[0]["value"] == template("oms:2")
    stored = cluster.deployment()
    assert stored["spec"]["template"] == template("oms:2")
    annotations = stored["metadata"]["annotations"]
    assert annotations["peakops.dev/bad-revision"] == "3"
    bad = json.loads(annotations["peakops.dev/bad-templates"])
    assert list(bad) == [fingerprint(template("oms:3"))]
    last = json.loads(annotations["peakops.dev/last-rollback"])
    assert (last["reason"], last["run_id"], last["from"], last["to"]) == (
        "p99 breach", run.run_id, "3", "2"
    )  # fmt: skip
    [event] = cluster.events()
    assert event["reason"] == "PeakopsRollback" and event["type"] == "Warning"
    assert event["involvedObject"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "namespace": "shop", "name": "oms", "uid": uid}  # fmt: skip
    assert event["message"] == (
        f"peakops rolled deployment shop/oms back from revision 3 to 2: p99 breach "
        f"(run {run.run_id})"
    )
    assert [e["type"] for e in events(run)] == ["rollback_started", "rollback_finished"]
    assert events(run)[0] == {
        "type": "rollback_started", "source": "rollback", "run_id": run.run_id,
        "target": "deployment shop/oms", "action": "rollback", "from": "3", "to": "2",
        "reason": "p99 breach",
    }  # fmt: skip


def test_to_revision_restores_that_revision(cluster: Cluster) -> None:
    cluster.seed(deployment())
    outcome = roll(cluster, to_revision=1)
    assert outcome.to_revision == "1"
    assert cluster.deployment()["spec"]["template"] == template("oms:1")


def test_a_paused_deployment_is_refused_and_nothing_is_sent(cluster: Cluster, run: RunDir) -> None:
    cluster.seed(deployment(paused=True))
    mark = cluster.mark()
    with pytest.raises(RollbackRefused, match="it is paused; resume it first") as caught:
        roll(cluster, run)
    assert caught.value.exit_code == ExitCode.USAGE
    assert cluster.mutating(mark) == []
    assert [e["type"] for e in events(run)] == ["rollback_refused"]


def test_a_target_template_already_running_sends_nothing(cluster: Cluster, run: RunDir) -> None:
    cluster.seed(deployment(image="oms:2"))
    mark = cluster.mark()
    outcome = roll(cluster, run)
    assert outcome.action == "already_current"
    assert "already runs the template of revision 2: nothing to do" in outcome.message
    assert cluster.mutating(mark) == []
    assert [e["type"] for e in events(run)] == ["rollback_skipped"]


def test_a_second_rollback_for_the_same_bad_revision_is_refused(cluster: Cluster) -> None:
    cluster.seed(deployment())
    roll(cluster, run_id="run-a")
    FakeController(cluster).reconcile()  # revision 2 comes back as revision 4
    assert (
        cluster.deployment()["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
    )
    mark = cluster.mark()

    with pytest.raises(RollbackRefused, match="rollback loop") as caught:
        roll(cluster, run_id="run-b")  # kubectl would now restore the bad revision 3

    assert "revision 3" in str(caught.value) and "run run-a" in str(caught.value)
    assert cluster.mutating(mark) == []
    assert roll(cluster, run_id="run-a").action == "already_rolled_back"  # a retry is fine
    assert cluster.mutating(mark) == []


def test_the_deployments_own_annotations_survive_the_rollback(cluster: Cluster) -> None:
    manifest = deployment()
    manifest["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"] = "shop:oms"
    cluster.seed(manifest)
    roll(cluster)
    annotations = cluster.deployment()["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/tracking-id"] == "shop:oms"  # kubectl drops it
    assert annotations["kubernetes.io/change-cause"] == "release v2"  # the revision's


def test_a_dry_run_returns_the_patch_and_sends_nothing(cluster: Cluster, run: RunDir) -> None:
    cluster.seed(deployment())
    mark = cluster.mark()
    outcome = roll(cluster, run, dry_run=True)
    assert outcome.action == "dry_run"
    assert outcome.patch[0]["value"] == template("oms:2")
    assert [c.method for c in cluster.calls(mark)] == ["GET", "GET"]  # no PATCH, no POST
    assert cluster.events() == [] and run.events() == []


def test_a_rollout_that_never_completes_fails_with_exit_5_and_is_recorded(
    cluster: Cluster, run: RunDir
) -> None:
    manifest = deployment()
    manifest["status"]["availableReplicas"] = 1
    cluster.seed(manifest)
    clock = FakeClock()
    audit = RunAudit(run, run.run_id)
    request = RollbackRequest("shop", "oms", timeout_s=3, poll_s=1)
    with pytest.raises(RevertError, match="did not complete within 3 s") as caught:
        rollback_deployment(engine(cluster, clock=clock, sleep=clock.sleep), request, ALLOWED,
                            audit, clock=clock)  # fmt: skip
    assert getattr(caught.value, "exit_code", None) == ExitCode.REVERT_FAILED
    assert [e["type"] for e in events(run)] == ["rollback_started", "rollback_failed"]
    assert events(run)[1]["exit_code"] == 5


def test_a_namespace_outside_the_allowlist_is_refused_before_any_request(
    cluster: Cluster,
) -> None:
    cluster.seed(deployment())
    mark = cluster.mark()
    request = RollbackRequest("kube-system", "oms")
    with pytest.raises(UsageError, match="namespace 'kube-system' is not allowlisted"):
        rollback_deployment(engine(cluster), request, ALLOWED, RunAudit(None, "x"))
    assert cluster.calls(mark) == []


# ------------------------------------------------------------------ Argo Rollouts


def test_an_argo_rollout_is_aborted_annotated_and_evented(cluster: Cluster, run: RunDir) -> None:
    cluster.add(ROLLOUTS, "shop", argo_rollout())
    clock = FakeClock()

    def argo_controller(seconds: float) -> None:  # Argo reacts to status.abort
        clock.sleep(seconds)
        cluster.run(lambda: cluster.emulator.objects[ROLLOUTS, "shop", "web"].patch(
            {"status": {"phase": "Degraded", "message": "RolloutAborted: update aborted"}}
        ))  # fmt: skip

    argo = ArgoRollouts(cluster.clients(), clock=clock, sleep=argo_controller, now=lambda: NOW)
    audit = RunAudit(run, run.run_id)
    request = RollbackRequest("shop", "web", kind="rollout", reason="p99 breach")
    mark = cluster.mark()

    outcome = abort_rollout(argo, request, ALLOWED, audit, clock=clock)

    assert outcome.action == "aborted"
    abort, annotate = cluster.patches(mark)
    assert (abort.path, abort.body) == (f"{ROLLOUT_PATH}/status", {"status": {"abort": True}})
    assert annotate.path == ROLLOUT_PATH
    stored = cluster.get(ROLLOUTS, "shop", "web")
    assert stored is not None and stored["status"]["abort"] is True
    assert (
        json.loads(stored["metadata"]["annotations"]["peakops.dev/last-rollback"])["action"]
        == "abort"
    )
    [event] = cluster.events()
    assert event["involvedObject"]["kind"] == "Rollout"
    assert event["message"].startswith("peakops aborted rollout shop/web at revision 7: p99 breach")
    assert [e["type"] for e in events(run)] == ["rollback_started", "rollout_aborted"]
    mark = cluster.mark()
    again = abort_rollout(argo, request, ALLOWED, RunAudit(None, "x"), clock=clock)
    assert again.action == "already_aborted" and cluster.mutating(mark) == []
