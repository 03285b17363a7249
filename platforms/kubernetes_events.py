"""Kubernetes Events (core/v1) that peakops leaves on the objects it changes.

An Event is what ``kubectl describe deployment/oms`` and ``kubectl get events`` show,
so an on-call engineer sees *why* a Deployment changed without knowing peakops. Events
are best effort in Kubernetes itself (the API server drops them after about an hour),
so the durable audit record is the annotation; see docs/rollback.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from platforms.kubernetes import KubeClients
from platforms.kubernetes_errors import api_errors
from slo.errors import InfraError

__all__ = ["COMPONENT", "ObjectRef", "create_event", "event_manifest"]

COMPONENT = "peakops"

Raw = dict[str, Any]


@dataclass(frozen=True)
class ObjectRef:
    """The object an Event is about (its ``involvedObject``)."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str | None = None

    @classmethod
    def of(cls, obj: Raw, *, api_version: str, kind: str) -> ObjectRef:
        meta = obj.get("metadata") or {}
        uid = meta.get("uid")
        return cls(api_version, kind, str(meta.get("namespace")), str(meta.get("name")), uid)


def event_manifest(
    ref: ObjectRef, *, reason: str, message: str, now: float, event_type: str = "Warning"
) -> Raw:
    """A core/v1 Event against ``ref`` (name: ``<object>.<random>``, like the controllers)."""
    stamp = datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    involved: Raw = {
        "apiVersion": ref.api_version,
        "kind": ref.kind,
        "namespace": ref.namespace,
        "name": ref.name,
    }
    if ref.uid:
        involved["uid"] = ref.uid
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{ref.name}.{os.urandom(8).hex()}", "namespace": ref.namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": message[:1024],  # the API server refuses longer messages
        "type": event_type,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def create_event(clients: KubeClients, manifest: Raw, *, timeout_s: float) -> None:
    """``POST /api/v1/namespaces/<ns>/events``; an API failure is an InfraError."""
    namespace = manifest["metadata"]["namespace"]
    what = f"creating event {manifest['reason']} in {namespace!r}"
    with api_errors(what, host=clients.host, error=InfraError):
        clients.core.create_namespaced_event(
            namespace, cast(Any, manifest), _preload_content=False, _request_timeout=timeout_s
        )
