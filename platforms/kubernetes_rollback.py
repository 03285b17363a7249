"""``kubectl rollout undo`` for one Deployment, as API calls: read, choose, patch, wait.

This module knows Kubernetes and nothing of policy: it reads the Deployment and the
ReplicaSets it controls, chooses the revision ``kubectl rollout undo`` would, builds the
one JSON patch that puts that revision's pod template back, sends it, annotates, and
waits for the rollout the way ``kubectl rollout status`` does. Whether a rollback may
happen at all (paused, rollback loops, once per bad revision) is decided in
``rollout/rollback_kubernetes.py``. See docs/rollback.md.

Objects are handled as raw JSON, so a template is copied verbatim, fields this client
version does not know included.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from platforms.blast_radius import format_selector
from platforms.kubernetes import REVISION_ANNOTATION, KubeClients
from platforms.kubernetes_deployment import (
    HASH_LABEL,
    JSON_PATCH,
    LAST_APPLIED,
    annotations_of,
    controller_uid,
    json_object,
    revision_of,
)
from platforms.kubernetes_errors import Tolerated, api_errors
from platforms.kubernetes_events import ObjectRef, create_event, event_manifest
from slo.errors import InfraError, PeakopsError, RevertError, UsageError

__all__ = [
    "BAD_REVISION",
    "BAD_TEMPLATES",
    "CHANGE_CAUSE",
    "KUBECTL_KEEPS",
    "LAST_ROLLBACK",
    "MERGE_PATCH",
    "PEAKOPS_PREFIX",
    "DeploymentRollback",
    "DeploymentState",
    "RolloutStatus",
    "choose_replica_set",
    "fingerprint",
    "pod_template",
    "rollout_status",
    "undo_patch",
]

PEAKOPS_PREFIX = "peakops.dev/"
BAD_REVISION = "peakops.dev/bad-revision"
"""The revision peakops last rolled back from, for people (``kubectl describe``)."""
BAD_TEMPLATES = "peakops.dev/bad-templates"
"""JSON: every template peakops rolled back from, by fingerprint (the loop guard)."""
LAST_ROLLBACK = "peakops.dev/last-rollback"
"""JSON: the last rollback's audit record (reason, run id, from, to, when)."""
CHANGE_CAUSE = "kubernetes.io/change-cause"
MERGE_PATCH = "application/merge-patch+json"
KUBECTL_KEEPS = frozenset(
    {
        LAST_APPLIED,
        REVISION_ANNOTATION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)
"""Annotations ``kubectl rollout undo`` takes from the Deployment, never from the ReplicaSet."""

Raw = dict[str, Any]
History = list[tuple[int, Raw]]  # (revision, ReplicaSet), oldest first


@dataclass(frozen=True)
class DeploymentState:
    """A Deployment as read, with the ReplicaSets it controls (by revision, oldest first)."""

    raw: Raw
    history: History

    @property
    def namespace(self) -> str:
        return str(self.raw.get("metadata", {}).get("namespace"))

    @property
    def name(self) -> str:
        return str(self.raw.get("metadata", {}).get("name"))

    @property
    def paused(self) -> bool:
        return bool(self.raw.get("spec", {}).get("paused"))

    @property
    def revision(self) -> str:
        """Its ``deployment.kubernetes.io/revision`` ("?" before the controller set one)."""
        return str(annotations_of(self.raw).get(REVISION_ANNOTATION, "?"))

    @property
    def annotations(self) -> dict[str, str]:
        return annotations_of(self.raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint(pod_template(self.raw))

    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.raw, api_version="apps/v1", kind="Deployment")


@dataclass(frozen=True)
class RolloutStatus:
    """``kubectl rollout status`` of one read: done, failed (deadline exceeded) or waiting."""

    done: bool
    failed: bool
    detail: str


def pod_template(obj: Raw) -> Raw:
    """The pod template of a Deployment or ReplicaSet, without ``pod-template-hash``."""
    template: Raw = copy.deepcopy(obj.get("spec", {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return template


def fingerprint(template: Raw) -> str:
    """A stable name for a pod template: it survives the controller's renumbering."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def choose_replica_set(state: DeploymentState, to_revision: int | None) -> tuple[int, Raw]:
    """The revision ``kubectl rollout undo`` restores: ``to_revision``, else the second newest.

    Unknown revision: UsageError listing the known ones; no previous one: RevertError.
    """
    where = f"deployment {state.namespace}/{state.name}"
    if to_revision is not None:
        for number, replica_set in state.history:
            if number == to_revision:
                return number, replica_set
        known = ", ".join(str(number) for number, _ in state.history) or "none"
        raise UsageError(f"{where} has no revision {to_revision} (known: {known})")
    if len(state.history) < 2:
        raise RevertError(f"cannot roll back {where}: no previous revision in its history")
    return state.history[-2]


def undo_patch(deployment: Raw, replica_set: Raw) -> list[Raw]:
    """The JSON patch of ``kubectl rollout undo``, keeping what kubectl would drop.

    ``/spec/template``: the ReplicaSet's, without ``pod-template-hash`` (as kubectl).
    ``/metadata/annotations``: the ReplicaSet's, with kubectl's own exceptions taken
    from the Deployment (:data:`KUBECTL_KEEPS`); then, unlike kubectl, every other
    Deployment annotation the ReplicaSet does not carry stays (``peakops.dev/*`` always
    comes from the Deployment), except ``kubernetes.io/change-cause``, which describes
    a revision and follows it.
    """
    own, recorded = annotations_of(deployment), annotations_of(replica_set)
    annotations = {k: v for k, v in own.items() if k in KUBECTL_KEEPS}
    annotations.update({k: v for k, v in recorded.items() if not _from_deployment(k)})
    for key, value in own.items():
        if key not in annotations and key != CHANGE_CAUSE:
            annotations[key] = value
    return [
        {"op": "replace", "path": "/spec/template", "value": pod_template(replica_set)},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]


def rollout_status(deployment: Raw) -> RolloutStatus:
    """Whether the controller has finished rolling ``deployment`` out (kubectl's rules).

    Done: the spec is observed (``observedGeneration >= generation``), every desired
    replica is updated and available, and no old replica is left. Failed: the
    ``Progressing`` condition says ``ProgressDeadlineExceeded``.
    """
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    generation = deployment.get("metadata", {}).get("generation", 0)
    observed = status.get("observedGeneration", 0)
    if observed < generation:
        return RolloutStatus(False, False, f"generation {generation} not observed yet")
    for condition in status.get("conditions") or []:
        kind, why = condition.get("type"), condition.get("reason")
        if kind == "Progressing" and why == "ProgressDeadlineExceeded":
            return RolloutStatus(False, True, "it exceeded its progress deadline")
    desired = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    available = int(status.get("availableReplicas", 0))
    total = int(status.get("replicas", 0))
    if updated < desired:
        return RolloutStatus(False, False, f"{updated} of {desired} replicas updated")
    if total > updated:
        return RolloutStatus(False, False, f"{total - updated} old replicas pending termination")
    if available < desired:
        return RolloutStatus(False, False, f"{available} of {desired} updated replicas available")
    return RolloutStatus(True, False, f"{available}/{desired} replicas updated and available")


class DeploymentRollback:
    """The API calls of a Deployment rollback; every one carries ``request_timeout_s``.

    ``clock`` (monotonic seconds) and ``sleep`` pace :meth:`wait`; tests inject both.
    """

    def __init__(
        self,
        clients: KubeClients,
        *,
        request_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._clients = clients
        self._timeout = request_timeout_s
        self._clock = clock
        self._sleep = sleep
        self._now = now

    def read(self, namespace: str, name: str, error: type[PeakopsError] = InfraError) -> Raw:
        """``GET`` the Deployment; 404 is a UsageError naming it."""
        where = f"deployment {namespace}/{name}"
        try:
            with api_errors(
                f"reading {where}", host=self._clients.host, error=error, tolerate=(404,)
            ):
                return json_object(
                    self._clients.apps.read_namespaced_deployment(
                        name, namespace, _preload_content=False, _request_timeout=self._timeout
                    )
                )
        except Tolerated as err:
            raise UsageError(f"{where} not found") from err

    def state(self, namespace: str, name: str) -> DeploymentState:
        """The Deployment and the ReplicaSets whose *controller* is it (its uid).

        The selector is sent to the server, but ownership is what counts, as in kubectl.
        """
        deployment = self.read(namespace, name)
        labels = deployment.get("spec", {}).get("selector", {}).get("matchLabels") or {}
        uid = deployment.get("metadata", {}).get("uid")
        where = f"listing replicasets of deployment {namespace}/{name}"
        with api_errors(where, host=self._clients.host):
            listed = json_object(
                self._clients.apps.list_namespaced_replica_set(
                    namespace,
                    label_selector=format_selector(labels) or None,
                    _preload_content=False,
                    _request_timeout=self._timeout,
                )
            )
        history: History = []
        for item in listed.get("items") or []:
            revision = revision_of(item)
            if uid and controller_uid(item) == uid and revision is not None:
                history.append((revision, item))
        return DeploymentState(deployment, sorted(history, key=lambda entry: entry[0]))

    def send(self, namespace: str, name: str, patch: list[Raw]) -> Raw:
        """The one JSON patch of the rollback; any failure is a RevertError (exit 5)."""
        what = f"patching deployment {namespace}/{name}"
        with api_errors(what, host=self._clients.host, error=RevertError):
            return json_object(
                self._clients.apps.patch_namespaced_deployment(
                    name,
                    namespace,
                    patch,
                    _content_type=JSON_PATCH,
                    _preload_content=False,
                    _request_timeout=self._timeout,
                )
            )

    def annotate(self, namespace: str, name: str, annotations: Mapping[str, str]) -> None:
        """A merge patch of ``metadata.annotations`` only (RevertError on failure)."""
        what = f"annotating deployment {namespace}/{name}"
        body = {"metadata": {"annotations": dict(annotations)}}
        with api_errors(what, host=self._clients.host, error=RevertError):
            self._clients.apps.patch_namespaced_deployment(
                name,
                namespace,
                body,
                _content_type=MERGE_PATCH,
                _preload_content=False,
                _request_timeout=self._timeout,
            )

    def event(self, ref: ObjectRef, *, reason: str, message: str) -> None:
        """A Warning Event against ``ref`` (InfraError on failure)."""
        manifest = event_manifest(ref, reason=reason, message=message, now=self._now())
        create_event(self._clients, manifest, timeout_s=self._timeout)

    def wait(
        self, namespace: str, name: str, *, timeout_s: float, poll_s: float = 1.0
    ) -> RolloutStatus:
        """Poll until :func:`rollout_status` is done; RevertError on failure or timeout."""
        where = f"deployment {namespace}/{name}"
        deadline = self._clock() + timeout_s
        while True:
            status = rollout_status(self.read(namespace, name, RevertError))
            if status.done:
                return status
            if status.failed:
                raise RevertError(f"rollout of {where} failed: {status.detail}")
            left = deadline - self._clock()
            if left <= 0:
                raise RevertError(
                    f"rollout of {where} did not complete within {timeout_s:g} s: {status.detail}"
                )
            self._sleep(min(poll_s, left))


def _from_deployment(key: str) -> bool:
    return key in KUBECTL_KEEPS or key.startswith(PEAKOPS_PREFIX)
