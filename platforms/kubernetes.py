"""The Kubernetes platform: pod kills, zone loss and leased network cuts on a cluster.

:func:`build_clients` is the one place in peakops that builds Kubernetes clients; every
other piece of code is handed a :class:`KubeClients`. :class:`KubernetesPlatform` runs
each fault through the blast-radius guards (:mod:`platforms.blast_radius`) before it sends a
single mutating call, and gives every object it creates a lease that :meth:`reap`
enforces (:mod:`platforms.kubernetes_leases`, :mod:`platforms.kubernetes_network`).
See ``docs/kubernetes.md``.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from platforms.blast_radius import (
    BlastRadius,
    check_namespace,
    check_selector,
    check_target_count,
    choose_targets,
    format_selector,
    matches_selector,
)
from platforms.kubernetes_errors import Tolerated, api_errors
from platforms.kubernetes_leases import check_lease, deny_all_policy, format_expiry, policy_name
from platforms.kubernetes_network import NetworkPolicies
from slo.errors import InfraError, RevertError, UsageError

__all__ = ["ZONE_LABEL", "KubeClients", "KubernetesPlatform", "Pod", "build_clients"]

ZONE_LABEL = "topology.kubernetes.io/zone"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


@dataclass(frozen=True)
class KubeClients:
    """The API objects peakops uses, sharing one connection pool; ``close()`` it."""

    api_client: k8s.ApiClient
    core: k8s.CoreV1Api
    apps: k8s.AppsV1Api
    networking: k8s.NetworkingV1Api

    @property
    def custom(self) -> k8s.CustomObjectsApi:
        """Custom resources (Argo Rollouts) over the same connection pool."""
        return k8s.CustomObjectsApi(self.api_client)

    @property
    def host(self) -> str:
        """The API server URL (for messages; never credentials)."""
        return str(self.api_client.configuration.host)

    def close(self) -> None:
        self.api_client.close()


def build_clients(
    kubeconfig: str | None = None, *, context: str | None = None, host: str | None = None
) -> KubeClients:
    """Build the clients from a kubeconfig, the in-cluster service account, or a URL.

    ``host`` (e.g. ``kubectl proxy``'s ``http://127.0.0.1:8001`` or an emulator) talks
    to that URL with no credentials and excludes ``kubeconfig``/``context``. Without it,
    ``kubeconfig`` (default ``$KUBECONFIG`` or ``~/.kube/config``) is loaded; when no
    such file exists inside a pod, the pod's service account is used. Nothing global is
    changed: the configuration lives in the returned clients only.
    """
    configuration = k8s.Configuration()
    if host is not None:
        if kubeconfig is not None or context is not None:
            raise UsageError("give either a host or a kubeconfig/context, not both")
        if not host.startswith(("http://", "https://")):
            raise UsageError(f"kubernetes host {host!r} must start with http:// or https://")
        configuration.host = host.rstrip("/")
    else:
        _load_configuration(configuration, kubeconfig, context)
    api_client = k8s.ApiClient(configuration=configuration)
    return KubeClients(
        api_client=api_client,
        core=k8s.CoreV1Api(api_client),
        apps=k8s.AppsV1Api(api_client),
        networking=k8s.NetworkingV1Api(api_client),
    )


def _load_configuration(
    configuration: k8s.Configuration, kubeconfig: str | None, context: str | None
) -> None:
    default = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    has_file = any(Path(path).expanduser().exists() for path in default.split(os.pathsep) if path)
    in_pod = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    if kubeconfig is None and context is None and in_pod and not has_file:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except (k8s_config.ConfigException, OSError) as err:
            raise UsageError(f"cannot load the pod's service account: {err}") from err
        return
    try:
        k8s_config.load_kube_config(
            config_file=kubeconfig,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (k8s_config.ConfigException, OSError) as err:
        where = repr(kubeconfig or default) + (f" (context {context!r})" if context else "")
        raise UsageError(f"cannot load kubeconfig {where}: {err}") from err


@dataclass(frozen=True)
class Pod:
    """What the faults need to know about one pod."""

    name: str
    uid: str | None
    labels: Mapping[str, str]
    phase: str | None


class KubernetesPlatform:
    """Faults on one cluster, each within a :class:`~platforms.blast_radius.BlastRadius`.

    ``clock`` returns POSIX seconds (inject one in tests); ``request_timeout_s`` bounds
    every API call so a hung API server cannot hang a run.
    """

    def __init__(
        self,
        clients: KubeClients,
        radius: BlastRadius,
        *,
        clock: Callable[[], float] = time.time,
        request_timeout_s: float = 10.0,
    ) -> None:
        self._clients = clients
        self._radius = radius
        self._clock = clock
        self._timeout = request_timeout_s
        self._policies = NetworkPolicies(
            clients.networking, host=clients.host, timeout_s=request_timeout_s
        )

    # ----------------------------------------------------------------- reading

    def pods(self, namespace: str, selector: str | Mapping[str, str]) -> list[Pod]:
        """Pods matching ``selector`` that are not already terminating, by name.

        The selector is sent to the server and applied again here, so a server (or
        emulator) that ignores ``labelSelector`` cannot widen the blast radius.
        """
        labels = check_selector(selector)
        with api_errors(f"listing pods in {namespace!r}", host=self._clients.host):
            listed = self._clients.core.list_namespaced_pod(
                namespace, label_selector=format_selector(labels), _request_timeout=self._timeout
            )
        pods = []
        for item in listed.items or []:
            meta = item.metadata
            if meta is None or not meta.name or meta.deletion_timestamp is not None:
                continue
            if not matches_selector(meta.labels, labels):
                continue
            phase = item.status.phase if item.status is not None else None
            pods.append(Pod(meta.name, meta.uid, dict(meta.labels or {}), phase))
        return sorted(pods, key=lambda pod: pod.name)

    def deployment_revision(self, namespace: str, name: str) -> int | None:
        """The deployment's ``deployment.kubernetes.io/revision``, None if it has none."""
        where = f"deployment {namespace}/{name}"
        try:
            with api_errors(f"reading {where}", host=self._clients.host, tolerate=(404,)):
                deployment = self._clients.apps.read_namespaced_deployment(
                    name, namespace, _request_timeout=self._timeout
                )
        except Tolerated as err:
            raise UsageError(f"{where} not found") from err
        annotations = (deployment.metadata.annotations if deployment.metadata else None) or {}
        value = annotations.get(REVISION_ANNOTATION)
        try:
            return int(value) if value is not None else None
        except ValueError as err:
            raise InfraError(f"{where}: unreadable revision {value!r}") from err

    # ------------------------------------------------------------------ pod faults

    def kill_pods(
        self,
        namespace: str,
        selector: str | Mapping[str, str],
        *,
        count: int | None = None,
        percent: float | None = None,
        rng: random.Random,
        dry_run: bool = False,
    ) -> list[str]:
        """Delete ``count`` (or ``percent`` of the) matching pods, chosen by ``rng``.

        Deletes with grace period 0 and the pod's uid as a precondition, so a pod
        recreated under the same name is never hit. Returns the pods deleted (with
        ``dry_run``, the pods that would be, and nothing is sent but the listing).
        """
        check_namespace(namespace, self._radius)
        pods = {pod.name: pod for pod in self.pods(namespace, selector)}
        chosen = choose_targets(
            list(pods), count=count, percent=percent, radius=self._radius, rng=rng
        )
        if dry_run:
            return chosen
        return self._delete_pods(namespace, [pods[name] for name in chosen])

    def zone_loss(
        self,
        namespace: str,
        selector: str | Mapping[str, str],
        zone: str,
        *,
        dry_run: bool = False,
    ) -> list[str]:
        """Delete every matching pod labelled ``topology.kubernetes.io/zone=<zone>``.

        The guards count the zone's pods against all pods the selector matches.
        """
        check_namespace(namespace, self._radius)
        labels = check_selector(selector)
        check_selector({ZONE_LABEL: zone})
        if labels.get(ZONE_LABEL, zone) != zone:
            raise UsageError(f"selector names zone {labels[ZONE_LABEL]!r}, not {zone!r}")
        matched = self.pods(namespace, labels)
        in_zone = [pod for pod in matched if pod.labels.get(ZONE_LABEL) == zone]
        check_target_count(len(in_zone), self._radius, candidates=len(matched))
        if dry_run:
            return [pod.name for pod in in_zone]
        return self._delete_pods(namespace, in_zone)

    def _delete_pods(self, namespace: str, pods: Iterable[Pod]) -> list[str]:
        deleted: list[str] = []
        for pod in pods:
            preconditions = k8s.V1Preconditions(uid=pod.uid) if pod.uid else None
            body = k8s.V1DeleteOptions(grace_period_seconds=0, preconditions=preconditions)
            try:
                what = f"deleting pod {namespace}/{pod.name}"
                with api_errors(what, host=self._clients.host, tolerate=(404, 409)):
                    self._clients.core.delete_namespaced_pod(
                        pod.name,
                        namespace,
                        grace_period_seconds=0,
                        body=body,
                        _request_timeout=self._timeout,
                    )
            except Tolerated:  # gone already (404), or replaced by a new pod (409)
                continue
            except InfraError as err:
                done = ", ".join(deleted) or "none"
                raise InfraError(f"{err} (deleted before the error: {done})") from err
            deleted.append(pod.name)
        return deleted

    # ------------------------------------------------------------ network faults

    def cut_network(
        self,
        namespace: str,
        selector: str | Mapping[str, str],
        *,
        name: str,
        lease_s: float,
        dry_run: bool = False,
    ) -> str:
        """Create a deny-all NetworkPolicy ``peakops-<name>`` leased for ``lease_s``.

        A policy hits every pod its selector matches (now and later), so only the
        absolute limit ``max_targets`` applies, not ``max_percent``. Returns the
        policy name; with ``dry_run`` nothing is created.
        """
        check_namespace(namespace, self._radius)
        labels = check_selector(selector)
        full_name = policy_name(name)
        check_lease(lease_s)
        check_target_count(len(self.pods(namespace, labels)), self._radius)
        if not dry_run:
            expires_at = format_expiry(self._clock() + lease_s)
            self._policies.create(namespace, deny_all_policy(full_name, labels, expires_at))
        return full_name

    def renew(self, namespace: str, name: str, lease_s: float) -> str:
        """Move the expiry of ``peakops-<name>`` to now + ``lease_s``; return it.

        A policy that is gone (healed or reaped) is an InfraError: the fault is over.
        """
        check_namespace(namespace, self._radius)
        full_name = policy_name(name)
        check_lease(lease_s)
        expires_at = format_expiry(self._clock() + lease_s)
        self._policies.set_expiry(namespace, full_name, expires_at)
        return expires_at

    def heal(self, namespace: str, name: str) -> bool:
        """Delete ``peakops-<name>``; False if it was already gone.

        Any other failure, or a policy of that name that peakops does not manage, is a
        :class:`~slo.errors.RevertError` (exit 5). Healing is not limited by the
        namespace allowlist: removing a fault is always allowed.
        """
        full_name = policy_name(name)
        policy = self._policies.read_managed(namespace, full_name, RevertError)
        if policy is None:
            return False
        return self._policies.delete(namespace, full_name, policy.metadata.uid, RevertError)

    def reap(self, namespaces: Iterable[str]) -> list[str]:
        """Delete every peakops NetworkPolicy whose lease has run out; return them.

        A policy without a readable ``peakops.io/expires-at`` counts as expired. Only
        objects named ``peakops-*`` and labelled ``app.kubernetes.io/managed-by:
        peakops`` are considered; returns ``namespace/name`` of each one removed.
        Every namespace is tried; failures are then raised together as one
        :class:`~slo.errors.RevertError`.
        """
        return self._policies.reap(namespaces, self._clock())
