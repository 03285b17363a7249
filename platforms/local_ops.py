"""Helpers of the local platform that need none of its state, for the ``Platform`` protocol.

Waiting for a child to become healthy and to listen, its health, fault targets, which revision a
rollback restores, and how faults are reaped (every fault proxy reset).
:class:`platforms.local.LocalPlatform` calls these; they keep no state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import psutil

from platforms.base import FaultTargets, Health, ReplicaTarget
from platforms.faultproxy.client import FaultProxyClient
from platforms.probe import http_health
from platforms.processes import ChildProcess, wait_healthy
from slo.errors import InfraError, PeakopsError, RevertError

__all__ = [
    "ReplicaInfo",
    "await_healthy",
    "await_listening",
    "local_fault_targets",
    "local_health",
    "reset_fault_proxies",
    "rollback_target",
]


@dataclass(frozen=True)
class ReplicaInfo:
    """A snapshot of one orders replica.

    ``alive``: its process runs (not necessarily ready yet); ``pid`` is None while it
    waits to be restarted. ``restarts`` counts supervisor restarts since it was deployed.
    """

    name: str
    pid: int | None
    admin_url: str
    version: str
    restarts: int
    alive: bool


def await_healthy(
    child: ChildProcess, deadline: float, timeout_s: float, clock: Callable[[], float]
) -> None:
    """Wait until ``child`` is healthy or ``deadline``; InfraError with its last log lines."""
    reason = wait_healthy(child, max(0.0, deadline - clock()), clock=clock)
    if reason is None:
        return
    raise InfraError(
        f"{child.name} did not become healthy at {child.health_url} within {timeout_s:g}s:"
        f" {reason}; last lines of {child.log_path}:\n{child.log_tail()}"
    )


def await_listening(
    child: ChildProcess,
    port: int,
    deadline: float,
    timeout_s: float,
    clock: Callable[[], float],
    poll_s: float = 0.02,
) -> None:
    """Wait until ``child`` listens on ``port`` (the shared public port) or ``deadline``.

    A replica answers its health check a moment before it listens on the public port
    (it listens only once ready); a rollout must not stop the next replica before.
    InfraError with the child's last log lines when it exits or the deadline passes.
    """
    while True:
        reason = _not_listening(child, port)
        if reason is None:
            return
        if reason.startswith("exited") or clock() >= deadline:
            raise InfraError(
                f"{child.name} did not listen on port {port} within {timeout_s:g}s: {reason};"
                f" last lines of {child.log_path}:\n{child.log_tail()}"
            )
        time.sleep(poll_s)


def _not_listening(child: ChildProcess, port: int) -> str | None:
    pid = child.pid
    if pid is None:
        return f"exited with code {child.returncode}"
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return f"exited with code {child.returncode}"
    except psutil.AccessDenied:  # cannot tell: its health check has to do
        return None
    if any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in conns):
        return None
    return "not listening yet"


def local_health(
    base_url: str | None, state: str, supervisor_error: BaseException | None
) -> Health:
    """Ok when the supervisor has not failed and ``base_url/healthz`` answers 200.

    ``base_url`` is None unless the platform is running (``state`` says what it is).
    """
    if supervisor_error is not None:
        return Health(ok=False, detail=f"supervisor failed: {supervisor_error}")
    if base_url is None:
        return Health(ok=False, detail=f"local platform is {state}, not running")
    return http_health(f"{base_url}/healthz", accept=lambda status: status == 200)


def local_fault_targets(
    base_url: str, fault_proxies: Mapping[str, str], replicas: Iterable[ReplicaInfo]
) -> FaultTargets:
    """What chaos needs on the local platform: the public URL, proxies and replicas."""
    return FaultTargets(
        kind="local",
        base_url=base_url,
        fault_proxies=dict(fault_proxies),
        replicas=tuple(ReplicaTarget(r.name, r.pid, r.admin_url) for r in replicas),
    )


def rollback_target(history: Sequence[str], to_revision: str | None) -> str:
    """The revision a rollback restores: ``to_revision`` if it was ever deployed, else
    the one before the current (last) one.

    Raises RevertError when there is neither.
    """
    if to_revision is not None and to_revision in history:
        return to_revision
    if len(history) < 2:
        raise RevertError(f"cannot roll back {history[-1]}: no previous revision")
    return history[-2]


def reset_fault_proxies(proxies: Mapping[str, str], *, timeout_s: float = 2.0) -> list[str]:
    """Remove every toxic of every fault proxy (link -> control URL); ``link: toxic`` each.

    Every proxy is tried; failures are then raised together as one RevertError that
    also lists what was removed.
    """
    removed: list[str] = []
    failures: list[str] = []
    for link, url in sorted(proxies.items()):
        try:
            with FaultProxyClient(url, timeout_s=timeout_s) as client:
                removed += [f"{link}: {name}" for name in client.reset()]
        except PeakopsError as err:
            failures.append(f"{link}: {err}")
    if failures:
        done = ", ".join(removed) or "none"
        raise RevertError(
            f"resetting fault proxies failed: {'; '.join(failures)} (removed: {done})"
        )
    return removed
