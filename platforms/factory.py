"""Build the ``Platform`` a plan asks for, from ``plan.target`` and ``plan.platform``.

=============  ==============  ==================================================
target.kind    platform.kind   platform
=============  ==============  ==================================================
embedded       local           :class:`~platforms.local.LocalPlatform`
url            local           :class:`~platforms.external.ExternalTarget`
url            kubernetes      :class:`~platforms.kubernetes_deployment.KubernetesDeployment`
embedded       kubernetes      refused (UsageError)
=============  ==============  ==================================================

Kubernetes clients come from :func:`platforms.kubernetes.build_clients`, configured
by ``PEAKOPS_KUBECONFIG`` or ``PEAKOPS_KUBE_HOST``, unless the caller injects them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from platforms.base import Endpoints, Platform
from platforms.external import ExternalTarget
from platforms.kubernetes import KubeClients, build_clients
from platforms.kubernetes_deployment import KubernetesDeployment
from platforms.local import LocalPlatform
from platforms.oms import OmsConfig
from platforms.supervisor import Event
from slo.errors import UsageError
from slo.plan import Plan
from slo.target import Target

__all__ = ["build_platform", "oms_config"]

_EMBEDDED_ON_KUBERNETES = (
    "platform kubernetes needs target.kind url: peakops reaches the OMS in the cluster by URL"
)


def build_platform(
    plan: Plan,
    work_dir: Path,
    *,
    traces_dir: Path | None = None,
    on_event: Callable[[Event], None] | None = None,
    clients: KubeClients | None = None,
) -> Platform:
    """The platform for ``plan``, not started.

    ``work_dir`` holds the local processes' logs and databases; ``traces_dir`` their
    spans; ``on_event`` gets the local platform's events. ``clients`` are used for
    ``kubernetes`` instead of building them (the caller then closes them).
    """
    target, platform = plan.target, plan.platform
    if platform.kind == "kubernetes":
        return _kubernetes(plan, clients)
    if target.kind == "url":
        return ExternalTarget(_base_url(target), target.truth_url)
    return LocalPlatform(oms_config(target, traces_dir=traces_dir), work_dir, on_event=on_event)


def oms_config(target: Target, *, traces_dir: Path | None = None) -> OmsConfig:
    """The embedded OMS a plan's target describes, with fault proxies on its links."""
    catalog = target.catalog
    return OmsConfig(
        version=target.oms_version,
        replicas=target.replicas,
        skus=catalog.skus,
        locations=catalog.locations,
        seed=catalog.seed,
        min_stock=catalog.min_stock,
        max_stock=catalog.max_stock,
        traces_dir=traces_dir,
        fault_proxy=True,  # orders and stores reach inventory through proxies (network faults)
        stores=target.stores,
        ship_from_store=target.ship_from_store,
    )


def _kubernetes(plan: Plan, clients: KubeClients | None) -> KubernetesDeployment:
    target, platform = plan.target, plan.platform
    if target.kind != "url":
        raise UsageError(_EMBEDDED_ON_KUBERNETES)
    if platform.namespace is None or platform.deployment is None:  # the plan model checks it
        raise UsageError("platform kubernetes needs platform.namespace and platform.deployment")
    endpoints = Endpoints(base_url=_base_url(target), truth_url=target.truth_url)
    owns_clients = clients is None
    if clients is None:
        clients = build_clients(
            kubeconfig=os.environ.get("PEAKOPS_KUBECONFIG") or None,
            host=os.environ.get("PEAKOPS_KUBE_HOST") or None,
        )
    return KubernetesDeployment(
        clients, platform.namespace, platform.deployment, endpoints, owns_clients=owns_clients
    )


def _base_url(target: Target) -> str:
    if target.base_url is None:  # the plan model checks it
        raise UsageError("target.kind url needs target.baseUrl")
    return target.base_url
