"""Faults on the local platform: replica kills by pid, network faults through the fault proxy.

The running :class:`platforms.local.LocalPlatform` belongs to another process (the
rehearsal); it is reached through its handle file (:mod:`chaos.handle`) and the fault
proxies' control URLs. Its supervisor restarts a killed replica.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import psutil

from chaos.handle import LocalHandle, Replica, read_handle
from chaos.leases import Leases, Renewer
from chaos.settings import ChaosSettings
from platforms.blast_radius import check_selector, choose_targets, matches_selector
from platforms.faultproxy.client import FaultProxyClient
from slo.errors import InfraError, RevertError, UsageError

__all__ = [
    "base_url",
    "heal_network",
    "kill_replicas",
    "replica_labels",
    "replicas_healthy",
    "start_network",
]


def replica_labels(replica: Replica) -> dict[str, str]:
    """The labels a selector matches a local replica by."""
    return {"app": "orders", "peakops.io/replica": replica.name}


def _handle(settings: ChaosSettings) -> LocalHandle:
    if not settings.state_file:
        raise UsageError(
            "peakops_state_file is not set: the local platform's handle file is needed "
            "(a rehearsal writes chaos-platform.json into its run directory)"
        )
    return read_handle(settings.state_file)


def base_url(settings: ChaosSettings) -> str:
    """The public orders URL of the running platform."""
    return _handle(settings).base_url


def kill_replicas(
    settings: ChaosSettings, *, count: int | None, percent: float | None, rng: random.Random
) -> list[str]:
    """SIGKILL ``count`` (or ``percent`` of the) replicas the selector matches."""
    labels = check_selector(settings.selector)
    handle = _handle(settings)
    matched = {r.name: r for r in handle.replicas if matches_selector(replica_labels(r), labels)}
    chosen = choose_targets(
        list(matched), count=count, percent=percent, radius=settings.radius(), rng=rng
    )
    if settings.dry_run:
        return chosen
    for name in chosen:
        _kill(matched[name], settings)
    return chosen


def _kill(replica: Replica, settings: ChaosSettings) -> None:
    """SIGKILL the replica's process after checking it is that replica (pids get reused)."""
    for _ in range(20):  # a replica being restarted has no pid yet; the handle follows
        if replica.pid is not None and _is_replica(replica):
            os.kill(replica.pid, signal.SIGKILL)
            _wait_dead(replica.pid)
            return
        time.sleep(0.25)
        fresh = {r.name: r for r in _handle(settings).replicas}
        replica = fresh.get(replica.name, replica)
    raise InfraError(f"cannot kill {replica.name}: no running process matches the handle")


def _wait_dead(pid: int, timeout_s: float = 2.0) -> None:
    """Until the kernel has killed ``pid`` (a zombie counts as dead)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.Error:
            return
        time.sleep(0.02)


def _is_replica(replica: Replica) -> bool:
    port = replica.admin_url.rsplit(":", 1)[-1]
    try:
        argv = psutil.Process(replica.pid).cmdline()
    except psutil.Error:
        return False
    return any(a == "--admin-port" and b == port for a, b in itertools.pairwise(argv))


def _control_url(settings: ChaosSettings, link: str) -> str:
    urls: dict[str, str] = {}
    if settings.state_file:
        urls.update(_handle(settings).fault_proxies)
    urls.update(settings.control_urls or {})
    if link not in urls:
        known = ", ".join(sorted(urls)) or "none"
        raise UsageError(
            f"no fault proxy for link {link!r} (known: {known}); set peakops_state_file "
            "or peakops_control_urls"
        )
    return urls[link]


def start_network(
    settings: ChaosSettings,
    leases: Leases,
    *,
    name: str,
    link: str,
    toxic: str,
    attributes: Mapping[str, float],
    stream: str,
    toxicity: float,
    max_s: float,
) -> dict[str, Any]:
    """Add a leased toxic on ``link`` and keep it renewed (see :mod:`chaos.leases`)."""
    url = _control_url(settings, link)
    client = FaultProxyClient(url)
    if settings.dry_run:
        try:
            state = client.state()
        finally:
            client.close()
        return {"link": link, "control_url": url, "connections": state.get("connections")}
    try:
        added = client.add(
            name, toxic, attributes, stream=stream, toxicity=toxicity, lease_s=settings.lease_s
        )
    except BaseException:
        client.close()
        raise
    leases.start(_key(link, name), _renewer(client, name, settings.lease_s, max_s))
    return {"link": link, "control_url": url, "toxic": added}


def _renewer(client: FaultProxyClient, name: str, lease_s: float, max_s: float) -> Renewer:
    def renew() -> bool:
        return client.renew(name, lease_s) is not None

    return Renewer(name, renew, lease_s=lease_s, max_s=max_s, on_close=client.close)


def heal_network(settings: ChaosSettings, leases: Leases, *, name: str, link: str) -> bool:
    """Stop renewing and remove the toxic; False if it was already gone.

    Not being able to tell the proxy is a RevertError (exit 5); the lease still lapses.
    """
    leases.stop(_key(link, name))
    if settings.dry_run:
        return False
    try:
        with FaultProxyClient(_control_url(settings, link)) as client:
            return client.remove(name)
    except (InfraError, UsageError) as err:
        raise RevertError(
            f"could not remove fault {name!r} on {link}: {err}; it lapses within its "
            f"{settings.lease_s:g}s lease"
        ) from err


def _key(link: str, name: str) -> str:
    return f"local:{link}:{name}"


def replicas_healthy(
    settings: ChaosSettings, get: Callable[[str], int] | None = None
) -> tuple[int, int]:
    """(healthy, total) replicas of the handle, by their admin ``/healthz``."""
    status = get or _status
    replicas = _handle(settings).replicas
    healthy = sum(1 for r in replicas if r.pid is not None and status(r.admin_url) == 200)
    return healthy, len(replicas)


def _status(origin: str) -> int:
    try:
        return httpx.get(f"{origin}/healthz", timeout=1.0, trust_env=False).status_code
    except httpx.HTTPError:
        return 0
