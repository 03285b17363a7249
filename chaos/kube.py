"""Faults on Kubernetes, through :class:`platforms.kubernetes.KubernetesPlatform`.

Clients come from one factory (:data:`ClientsFactory`, by default
:func:`platforms.kubernetes.build_clients`) called once per provider call and closed
after it; tests pass their own factory instead of patching anything.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from typing import Any

from chaos.leases import Leases, Renewer
from chaos.settings import ChaosSettings
from platforms.kubernetes import KubeClients, KubernetesPlatform, build_clients
from slo.errors import InfraError, UsageError

__all__ = [
    "ClientsFactory",
    "cut_network",
    "default_clients",
    "heal_network",
    "kill_pods",
    "opened",
    "pods_ready",
    "reap",
    "zone_loss",
]

ClientsFactory = Callable[[ChaosSettings], KubeClients]


def default_clients(settings: ChaosSettings) -> KubeClients:
    """Clients from ``peakops_kube_host`` (an API URL) or ``peakops_kubeconfig``."""
    if settings.kube_host:
        return build_clients(host=settings.kube_host)
    return build_clients(settings.kubeconfig or None)


@contextlib.contextmanager
def opened(settings: ChaosSettings, factory: ClientsFactory) -> Iterator[KubernetesPlatform]:
    """A platform on fresh clients, closed on exit."""
    clients = factory(settings)
    try:
        yield KubernetesPlatform(clients, settings.radius())
    finally:
        clients.close()


def _namespace(settings: ChaosSettings) -> str:
    if not settings.namespace:
        raise UsageError("peakops_namespace is not set: say which namespace the fault is for")
    return settings.namespace


def kill_pods(
    settings: ChaosSettings,
    factory: ClientsFactory,
    *,
    count: int | None,
    percent: float | None,
    rng: random.Random,
) -> list[str]:
    with opened(settings, factory) as platform:
        return platform.kill_pods(
            _namespace(settings),
            settings.selector,
            count=count,
            percent=percent,
            rng=rng,
            dry_run=settings.dry_run,
        )


def zone_loss(settings: ChaosSettings, factory: ClientsFactory, *, zone: str) -> list[str]:
    with opened(settings, factory) as platform:
        return platform.zone_loss(
            _namespace(settings), settings.selector, zone, dry_run=settings.dry_run
        )


def cut_network(
    settings: ChaosSettings, factory: ClientsFactory, leases: Leases, *, name: str, max_s: float
) -> dict[str, Any]:
    """A leased deny-all NetworkPolicy, renewed until healed (or ``max_s``)."""
    namespace = _namespace(settings)
    with opened(settings, factory) as platform:
        policy = platform.cut_network(
            namespace, settings.selector, name=name, lease_s=settings.lease_s,
            dry_run=settings.dry_run,
        )  # fmt: skip
    if not settings.dry_run:
        clients = factory(settings)
        platform = KubernetesPlatform(clients, settings.radius())

        def renew() -> bool:
            try:
                platform.renew(namespace, name, settings.lease_s)
            except InfraError as err:
                if "is gone" in str(err):
                    return False
                raise
            return True

        renewer = Renewer(
            name, renew, lease_s=settings.lease_s, max_s=max_s, on_close=clients.close
        )
        leases.start(_key(namespace, name), renewer)
    return {"namespace": namespace, "policy": policy}


def heal_network(
    settings: ChaosSettings, factory: ClientsFactory, leases: Leases, *, name: str
) -> bool:
    """Stop renewing and delete the policy; False if it was already gone."""
    namespace = _namespace(settings)
    leases.stop(_key(namespace, name))
    if settings.dry_run:
        return False
    with opened(settings, factory) as platform:
        return platform.heal(namespace, name)


def reap(settings: ChaosSettings, factory: ClientsFactory, namespaces: list[str]) -> list[str]:
    """Delete every expired peakops NetworkPolicy in ``namespaces``."""
    with opened(settings, factory) as platform:
        return platform.reap(namespaces)


def pods_ready(settings: ChaosSettings, factory: ClientsFactory) -> tuple[int, int]:
    """(running, total) pods the selector matches."""
    with opened(settings, factory) as platform:
        pods = platform.pods(_namespace(settings), settings.selector)
    return sum(1 for pod in pods if pod.phase == "Running"), len(pods)


def _key(namespace: str, name: str) -> str:
    return f"kubernetes:{namespace}:{name}"
