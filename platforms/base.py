"""The ``Platform`` protocol: where the target runs, and where deploys, rollbacks and faults land.

A rehearsal (and later ``rollback``, ``watch``, ``deploy``) talks to a platform only
through this protocol, so the local processes, a Kubernetes deployment and an OMS
reached by URL are interchangeable, and tests pass a fake. ``platforms.factory``
builds the right one from ``plan.platform`` and ``plan.target``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["Endpoints", "FaultTargets", "Health", "Platform", "ReplicaTarget"]


@dataclass(frozen=True)
class Endpoints:
    """Where the load and the stock probes go once the target is up.

    ``base_url``: the OMS's public URL. ``truth_url``: its source of truth (inventory),
    when stock can be probed. ``store_urls``: store location to store node.
    ``metrics_targets``: ``host:port`` of every process that serves Prometheus metrics.
    """

    base_url: str
    truth_url: str | None = None
    store_urls: Mapping[str, str] = field(default_factory=dict)
    metrics_targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Health:
    """Is the target serving? ``detail`` says why not (or what was checked)."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class ReplicaTarget:
    """One process a fault may hit (a local orders replica): ``pid`` None while restarting."""

    name: str
    pid: int | None
    admin_url: str


@dataclass(frozen=True)
class FaultTargets:
    """What chaos experiments need to find their targets on this platform.

    Local: the public URL, the fault proxies (link -> control URL) and the replicas.
    Kubernetes: the namespace (selectors come from the experiment). A URL target has
    none: peakops injects no fault into a system it does not run.
    """

    kind: str
    base_url: str | None = None
    fault_proxies: Mapping[str, str] = field(default_factory=dict)
    replicas: tuple[ReplicaTarget, ...] = ()
    namespace: str | None = None


@runtime_checkable
class Platform(Protocol):
    """Start/stop the target, deploy and roll back revisions, report health and fault targets.

    ``start`` brings the target up (or checks that an external one is there) and
    ``stop`` releases what ``start`` took; both are idempotent. ``deploy`` and
    ``rollback`` raise :class:`~slo.errors.UsageError` where the platform cannot do
    them (a URL target), :class:`~slo.errors.RevertError` when a rollback fails.
    ``reap_faults`` removes every fault peakops left on this platform (fault-proxy
    toxics, expired NetworkPolicies) and returns what it removed.
    """

    kind: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def endpoints(self) -> Endpoints: ...

    def current_revision(self) -> str | None: ...

    def revisions(self) -> list[str]: ...

    def deploy(self, revision: str) -> None: ...

    def rollback(self, to_revision: str | None = None) -> str: ...

    def health(self) -> Health: ...

    def fault_targets(self) -> FaultTargets: ...

    def reap_faults(self) -> list[str]: ...
