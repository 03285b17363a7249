"""A Deployment on a cluster as the ``kubernetes`` Platform: revisions, rollback, health.

The OMS runs in an allowlisted namespace and is reached by URL (plan ``target.kind:
url``); peakops neither starts nor stops it. :meth:`KubernetesDeployment.rollback`
does what ``kubectl rollout undo`` does (see docs/kubernetes.md): it reads the
Deployment and the ReplicaSets it controls, refuses a paused Deployment, and sends one
``application/json-patch+json`` PATCH that puts the chosen revision's pod template and
annotations back; a template that already matches is left alone. Objects are read as
raw JSON, so a template is copied verbatim, fields this client does not know included.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from platforms.base import Endpoints, FaultTargets, Health
from platforms.blast_radius import format_selector
from platforms.kubernetes import REVISION_ANNOTATION, KubeClients
from platforms.kubernetes_errors import Tolerated, api_errors
from platforms.kubernetes_network import NetworkPolicies
from slo.errors import InfraError, PeakopsError, RevertError, UsageError

__all__ = [
    "HASH_LABEL",
    "JSON_PATCH",
    "LAST_APPLIED",
    "KubernetesDeployment",
    "deployment_health",
    "rollback_patch",
]

HASH_LABEL = "pod-template-hash"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
JSON_PATCH = "application/json-patch+json"
_DEPLOYMENT_PREFIX = "deployment.kubernetes.io/"
_ROLLBACK_TO = "deprecated.deployment.rollback.to"

Raw = dict[str, Any]
History = list[tuple[int, Raw]]  # (revision, ReplicaSet), oldest first


class KubernetesDeployment:
    """The Deployment ``namespace/name``, its ReplicaSet history and its leased faults.

    ``allowed_namespaces`` (default: ``namespace`` alone) must contain ``namespace``.
    ``owns_clients``: ``stop`` closes ``clients`` (the factory built them). Every API
    call carries ``request_timeout_s``; ``clock`` (POSIX seconds) judges fault leases.
    """

    kind: str = "kubernetes"

    def __init__(
        self,
        clients: KubeClients,
        namespace: str,
        name: str,
        endpoints: Endpoints,
        *,
        allowed_namespaces: Sequence[str] | None = None,
        owns_clients: bool = False,
        clock: Callable[[], float] = time.time,
        request_timeout_s: float = 10.0,
    ) -> None:
        allowed = (namespace,) if allowed_namespaces is None else tuple(allowed_namespaces)
        if namespace not in allowed:
            raise UsageError(
                f"namespace {namespace!r} is not allowlisted (allowed: {', '.join(allowed)})"
            )
        self._clients = clients
        self._namespace = namespace
        self._name = name
        self._endpoints = endpoints
        self._owns_clients = owns_clients
        self._clock = clock
        self._timeout = request_timeout_s
        self._where = f"deployment {namespace}/{name}"
        self._policies = NetworkPolicies(
            clients.networking, host=clients.host, timeout_s=request_timeout_s
        )
        self._rolled_back: tuple[str, Raw] | None = None  # revision and template restored

    def start(self) -> None:
        """Check that the Deployment exists (UsageError naming it if not)."""
        self._read(InfraError)

    def stop(self) -> None:
        """Leave the Deployment alone (peakops does not own it); close owned clients."""
        if self._owns_clients:
            self._clients.close()

    def endpoints(self) -> Endpoints:
        return self._endpoints

    def current_revision(self) -> str | None:
        """The Deployment's ``deployment.kubernetes.io/revision``, None if unset."""
        value = annotations_of(self._read(InfraError)).get(REVISION_ANNOTATION)
        return None if value is None else str(value)

    def revisions(self) -> list[str]:
        """Revisions of the ReplicaSets the Deployment controls, oldest first."""
        history = self._history(self._read(InfraError), InfraError)
        return [str(revision) for revision in sorted({revision for revision, _ in history})]

    def health(self) -> Health:
        """Ok when every desired replica is available and the spec has been observed."""
        try:
            deployment = self._read(InfraError)
        except PeakopsError as err:
            return Health(ok=False, detail=str(err))
        return deployment_health(deployment, self._where)

    def deploy(self, revision: str) -> None:
        """Roll forward (or back) to the pod template of a revision in the history."""
        deployment = self._read(InfraError)
        self._refuse_paused(deployment, f"deploy revision {revision} of")
        history = self._history(deployment, InfraError)
        self._apply(deployment, self._find(history, revision), InfraError)
        self._rolled_back = None

    def rollback(self, to_revision: str | None = None) -> str:
        """``kubectl rollout undo [--to-revision]``; returns the revision rolled back to.

        The previous revision is the second newest ReplicaSet's. Idempotent within this
        object: once it has rolled back, a rollback without ``to_revision`` that finds
        that template still in place sends nothing. Paused Deployment or unknown
        revision: UsageError; no previous revision or an API failure: RevertError.
        """
        deployment = self._read(RevertError)
        self._refuse_paused(deployment, "roll back")
        done = self._rolled_back
        if to_revision is None and done is not None and done[1] == _template(deployment):
            return done[0]
        history = self._history(deployment, RevertError)
        if to_revision is not None:
            replica_set = self._find(history, to_revision)
        elif len(history) >= 2:
            replica_set = history[-2][1]
        else:
            raise RevertError(f"cannot roll back {self._where}: no previous revision")
        self._apply(deployment, replica_set, RevertError)
        revision = str(annotations_of(replica_set)[REVISION_ANNOTATION])
        self._rolled_back = (revision, _template(replica_set))
        return revision

    def fault_targets(self) -> FaultTargets:
        """The namespace; experiments bring their own selectors."""
        return FaultTargets(kind="kubernetes", namespace=self._namespace)

    def reap_faults(self) -> list[str]:
        """Delete expired peakops NetworkPolicies in the namespace (``namespace/name``)."""
        return self._policies.reap([self._namespace], self._clock())

    # ------------------------------------------------------------------ the API

    def _read(self, error: type[PeakopsError]) -> Raw:
        try:
            with api_errors(
                f"reading {self._where}", host=self._clients.host, error=error, tolerate=(404,)
            ):
                response = self._clients.apps.read_namespaced_deployment(
                    self._name,
                    self._namespace,
                    _preload_content=False,
                    _request_timeout=self._timeout,
                )
                return json_object(response)
        except Tolerated as err:
            raise UsageError(f"{self._where} not found") from err

    def _history(self, deployment: Raw, error: type[PeakopsError]) -> History:
        """The ReplicaSets whose controller is this Deployment (its uid), by revision.

        The selector is sent to the server, but ownership is what counts: a ReplicaSet
        with the same labels owned by something else is dropped here.
        """
        labels = deployment.get("spec", {}).get("selector", {}).get("matchLabels") or {}
        uid = deployment.get("metadata", {}).get("uid")
        what = f"listing replicasets of {self._where}"
        with api_errors(what, host=self._clients.host, error=error):
            listed = json_object(
                self._clients.apps.list_namespaced_replica_set(
                    self._namespace,
                    label_selector=format_selector(labels) or None,
                    _preload_content=False,
                    _request_timeout=self._timeout,
                )
            )
        history = []
        for item in listed.get("items") or []:
            revision = revision_of(item)
            if uid and controller_uid(item) == uid and revision is not None:
                history.append((revision, item))
        return sorted(history, key=lambda entry: entry[0])

    def _find(self, history: History, revision: str) -> Raw:
        for number, replica_set in history:
            if str(number) == revision.strip():
                return replica_set
        known = ", ".join(str(number) for number, _ in history) or "none"
        raise UsageError(f"{self._where} has no revision {revision!r} (known: {known})")

    def _refuse_paused(self, deployment: Raw, verb: str) -> None:
        if deployment.get("spec", {}).get("paused"):
            raise UsageError(
                f"cannot {verb} {self._where}: it is paused; resume it first "
                f"(kubectl rollout resume deployment/{self._name} -n {self._namespace})"
            )

    def _apply(self, deployment: Raw, replica_set: Raw, error: type[PeakopsError]) -> None:
        """One JSON patch putting the ReplicaSet's template back; none if already there."""
        patch = rollback_patch(deployment, replica_set)
        if not patch:
            return
        with api_errors(f"patching {self._where}", host=self._clients.host, error=error):
            self._clients.apps.patch_namespaced_deployment(
                self._name,
                self._namespace,
                patch,
                _content_type=JSON_PATCH,
                _preload_content=False,
                _request_timeout=self._timeout,
            )


def rollback_patch(deployment: Raw, replica_set: Raw) -> list[Raw]:
    """The JSON patch ``kubectl rollout undo`` sends, or [] when the templates match.

    ``/spec/template``: the ReplicaSet's, without its ``pod-template-hash`` label.
    ``/metadata/annotations``: the ReplicaSet's, except that the Deployment keeps its
    own ``deployment.kubernetes.io/*`` and ``last-applied-configuration``.
    """
    template = _template(replica_set)
    if template == _template(deployment):
        return []
    annotations = {k: v for k, v in annotations_of(deployment).items() if _kept(k)}
    annotations.update({k: v for k, v in annotations_of(replica_set).items() if not _kept(k)})
    return [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]


def deployment_health(deployment: Raw, where: str) -> Health:
    """Available replicas equal the desired ones, and the controller saw the last spec."""
    spec, status = deployment.get("spec", {}), deployment.get("status") or {}
    generation = deployment.get("metadata", {}).get("generation", 0)
    observed = status.get("observedGeneration", 0)
    if observed < generation:
        return Health(ok=False, detail=f"{where}: generation {generation} not observed yet")
    desired, available = spec.get("replicas", 1), status.get("availableReplicas", 0)
    detail = f"{where}: {available}/{desired} replicas available"
    return Health(ok=desired > 0 and available == desired, detail=detail)


def json_object(response: Any) -> Raw:
    data = json.loads(response.data)
    if not isinstance(data, dict):
        raise ValueError(f"expected a json object, got {type(data).__name__}")
    return data


def annotations_of(obj: Raw) -> dict[str, str]:
    return dict(obj.get("metadata", {}).get("annotations") or {})


def _template(obj: Raw) -> Raw:
    """The pod template, without the ``pod-template-hash`` label the ReplicaSet adds."""
    template: Raw = copy.deepcopy(obj.get("spec", {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return template


def _kept(key: str) -> bool:
    """An annotation a rollback takes from the Deployment, never from the ReplicaSet."""
    return key.startswith(_DEPLOYMENT_PREFIX) or key in (LAST_APPLIED, _ROLLBACK_TO)


def revision_of(replica_set: Raw) -> int | None:
    try:
        return int(annotations_of(replica_set)[REVISION_ANNOTATION])
    except (KeyError, TypeError, ValueError):
        return None


def controller_uid(obj: Raw) -> str | None:
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None
