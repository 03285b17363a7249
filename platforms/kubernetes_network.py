"""Leased NetworkPolicies on a cluster: create, renew, read, delete and reap them.

The API half of network faults; the guards and the public verbs live in
:class:`platforms.kubernetes.KubernetesPlatform`. Only objects that
:func:`~platforms.kubernetes_leases.is_managed` accepts are ever changed or deleted,
and deletes carry the object's uid as a precondition so a newer object of the same
name is never removed by mistake.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kubernetes import client as k8s

from platforms.blast_radius import format_selector
from platforms.kubernetes_errors import Tolerated, api_errors
from platforms.kubernetes_leases import EXPIRES_AT, MANAGED_LABELS, is_expired, is_managed
from slo.errors import InfraError, PeakopsError, RevertError, UsageError

__all__ = ["NetworkPolicies"]

_MERGE_PATCH = "application/merge-patch+json"


class NetworkPolicies:
    """NetworkPolicy calls for peakops' leased objects, through one injected API."""

    def __init__(self, api: k8s.NetworkingV1Api, *, host: str, timeout_s: float) -> None:
        self._api = api
        self._host = host
        self._timeout = timeout_s

    def create(self, namespace: str, manifest: Mapping[str, Any]) -> None:
        """Create the policy; an existing one of that name is a UsageError."""
        where = f"networkpolicy {namespace}/{manifest['metadata']['name']}"
        try:
            with api_errors(f"creating {where}", host=self._host, tolerate=(409,)):
                self._api.create_namespaced_network_policy(
                    namespace,
                    k8s.V1NetworkPolicy.model_validate(manifest),
                    _request_timeout=self._timeout,
                )
        except Tolerated as err:
            raise UsageError(
                f"{where} already exists: heal it or run `peakops chaos reap`"
            ) from err

    def set_expiry(self, namespace: str, name: str, expires_at: str) -> None:
        """Merge-patch the expiry annotation of a policy peakops manages."""
        where = f"networkpolicy {namespace}/{name}"
        if self.read_managed(namespace, name, InfraError) is None:
            raise InfraError(f"{where} is gone (healed or reaped): cannot renew it")
        patch = {"metadata": {"annotations": {EXPIRES_AT: expires_at}}}
        with api_errors(f"renewing {where}", host=self._host):
            self._api.patch_namespaced_network_policy(
                name, namespace, patch, _content_type=_MERGE_PATCH, _request_timeout=self._timeout
            )

    def read_managed(self, namespace: str, name: str, error: type[PeakopsError]) -> Any | None:
        """The policy, None if it does not exist; ``error`` if peakops does not manage it."""
        where = f"networkpolicy {namespace}/{name}"
        try:
            with api_errors(f"reading {where}", host=self._host, error=error, tolerate=(404,)):
                policy = self._api.read_namespaced_network_policy(
                    name, namespace, _request_timeout=self._timeout
                )
        except Tolerated:
            return None
        meta = policy.metadata
        if meta is None or not is_managed(meta.name, meta.labels):
            raise error(f"{where} is not managed by peakops: leaving it alone")
        return policy

    def delete(
        self,
        namespace: str,
        name: str,
        uid: str | None,
        error: type[PeakopsError],
        *,
        tolerate: tuple[int, ...] = (404,),
    ) -> bool:
        """Delete the policy (uid as precondition); False on a tolerated status.

        404: it was already gone. The reaper also tolerates 409: the uid no longer
        matches, so a new policy took the name and is judged on the next sweep.
        """
        preconditions = k8s.V1Preconditions(uid=uid) if uid else None
        where = f"networkpolicy {namespace}/{name}"
        try:
            with api_errors(f"deleting {where}", host=self._host, error=error, tolerate=tolerate):
                self._api.delete_namespaced_network_policy(
                    name,
                    namespace,
                    body=k8s.V1DeleteOptions(preconditions=preconditions),
                    _request_timeout=self._timeout,
                )
        except Tolerated:
            return False
        return True

    def managed(self, namespace: str) -> list[Any]:
        """Policies peakops manages in ``namespace`` (selector re-applied client-side)."""
        with api_errors(
            f"listing networkpolicies in {namespace!r}", host=self._host, error=RevertError
        ):
            listed = self._api.list_namespaced_network_policy(
                namespace,
                label_selector=format_selector(MANAGED_LABELS),
                _request_timeout=self._timeout,
            )
        return [
            item
            for item in listed.items or []
            if item.metadata is not None and is_managed(item.metadata.name, item.metadata.labels)
        ]

    def reap(self, namespaces: Iterable[str], now: float) -> list[str]:
        """Delete every managed policy expired at ``now``; ``namespace/name`` of each.

        Every namespace is tried; failures are then raised together as a RevertError.
        """
        removed: list[str] = []
        failures: list[str] = []
        for namespace in dict.fromkeys(namespaces):
            try:
                for policy in self.managed(namespace):
                    meta = policy.metadata
                    if not is_expired(meta.annotations, now):
                        continue
                    if self.delete(
                        namespace, meta.name, meta.uid, RevertError, tolerate=(404, 409)
                    ):
                        removed.append(f"{namespace}/{meta.name}")
            except RevertError as err:
                failures.append(str(err))
        if failures:
            done = ", ".join(removed) or "none"
            raise RevertError(f"reaping failed: {'; '.join(failures)} (removed: {done})")
        return removed
