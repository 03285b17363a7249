"""Chaos Toolkit actions (``"module": "chaos.actions"``): start, heal and await faults.

Plain functions with typed keyword arguments and JSON-able returns. Each reads its
platform from the experiment's ``peakops_*`` configuration (:mod:`chaos.settings`),
runs the blast-radius guards, and with ``peakops_dry_run`` only reports what it would
do. A start action returns ``{"event": "fault_started", "fault": name, "id": ...,
"duration_s": ..., "lease_s": ..., "expires_ts": ...}`` and the matching heal
``{"event": "fault_stopped", "fault": name}``: the runner turns them into fault windows
in ``events.jsonl``.

``expires_ts`` (Unix seconds) is the latest moment the fault can still be in place if
nobody heals it: start + planned duration + lease. A network fault's lease is renewed
only up to its planned duration and then lapses within ``peakops_lease_s``. A kill or a
zone loss is instantaneous (duration 0): its window closes at the latest one lease
after the kill, the same formula.

The functions delegate to :class:`Actions`, which tests build with their own
Kubernetes clients factory, lease registry and random generator.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from chaos import kube, local
from chaos.leases import LEASES, Leases
from chaos.settings import ChaosSettings, parse_settings
from slo.errors import RevertError, UsageError

__all__ = [
    "Actions",
    "await_recovery",
    "heal_network_fault",
    "kill_replicas",
    "start_network_fault",
    "zone_loss",
]

Configuration = Mapping[str, Any] | None

LINK = "orders-inventory"
# A NetworkPolicy can only cut a link; these toxics are what "cut" means on the proxy.
_CUTS = {"timeout", "down"}


class Actions:
    """The actions, with what they need injected."""

    def __init__(
        self,
        *,
        clients_factory: kube.ClientsFactory = kube.default_clients,
        leases: Leases = LEASES,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients_factory = clients_factory
        self.leases = leases
        self.rng = rng or random.Random()
        self._sleep = sleep
        self._clock = clock

    def kill_replicas(
        self, s: ChaosSettings, *, name: str, count: int | None, percent: float | None
    ) -> dict[str, Any]:
        if s.platform == "local":
            killed = local.kill_replicas(s, count=count, percent=percent, rng=self.rng)
        else:
            killed = kube.kill_pods(
                s, self.clients_factory, count=count, percent=percent, rng=self.rng
            )
        return _started(s, name, duration_s=0.0, targets=killed)

    def zone_loss(self, s: ChaosSettings, *, name: str, zone: str) -> dict[str, Any]:
        if s.platform == "local":
            raise UsageError("zone-loss needs peakops_platform kubernetes: local has no zones")
        targets = kube.zone_loss(s, self.clients_factory, zone=zone)
        return _started(s, name, duration_s=0.0, targets=targets)

    def start_network_fault(
        self,
        s: ChaosSettings,
        *,
        name: str,
        toxic: str,
        attributes: Mapping[str, float],
        stream: str,
        toxicity: float,
        link: str,
        duration_s: float,
    ) -> dict[str, Any]:
        # Renewed up to the planned duration only: unhealed, it lapses one lease later,
        # which is what the fault_started event's expires_ts promises.
        max_s = duration_s
        if s.platform == "local":
            detail = local.start_network(
                s, self.leases, name=name, link=link, toxic=toxic, attributes=attributes,
                stream=stream, toxicity=toxicity, max_s=max_s,
            )  # fmt: skip
            return _started(s, name, duration_s=duration_s, **detail)
        if toxic not in _CUTS or attributes.get("timeout_ms", 0) or toxicity < 1:
            raise UsageError(
                f"toxic {toxic!r} is not available on kubernetes: a NetworkPolicy can only "
                "cut the selected pods off (toxic timeout with timeout_ms 0, or down)"
            )
        detail = kube.cut_network(s, self.clients_factory, self.leases, name=name, max_s=max_s)
        return _started(s, name, duration_s=duration_s, **detail)

    def heal_network_fault(self, s: ChaosSettings, *, name: str, link: str) -> dict[str, Any]:
        if s.platform == "local":
            removed = local.heal_network(s, self.leases, name=name, link=link)
        else:
            removed = kube.heal_network(s, self.clients_factory, self.leases, name=name)
        return _stopped(s, name, removed=removed)

    def await_recovery(self, s: ChaosSettings, *, name: str, timeout_s: float) -> dict[str, Any]:
        """Wait until every target is healthy again; RevertError after ``timeout_s``."""
        if s.dry_run:
            return _stopped(s, name)
        deadline = self._clock() + timeout_s
        while True:
            if s.platform == "local":
                ready, total = local.replicas_healthy(s)
            else:
                ready, total = kube.pods_ready(s, self.clients_factory)
            if total > 0 and ready == total:
                return _stopped(s, name, ready=ready)
            if self._clock() >= deadline:
                raise RevertError(
                    f"{name}: only {ready} of {total} targets healthy {timeout_s:g}s after "
                    "the fault"
                )
            self._sleep(0.25)


def _started(s: ChaosSettings, name: str, *, duration_s: float, **detail: Any) -> dict[str, Any]:
    """A start action's output; called once the fault is in place (its lease running)."""
    fault_id = f"{name}-{uuid.uuid4().hex[:8]}"
    event = "would_start" if s.dry_run else "fault_started"
    expires_ts = math.ceil((time.time() + duration_s + s.lease_s) * 1000) / 1000
    return {
        "event": event, "fault": name, "id": fault_id, "dry_run": s.dry_run,
        "duration_s": duration_s, "lease_s": s.lease_s, "expires_ts": expires_ts, **detail,
    }  # fmt: skip


def _stopped(s: ChaosSettings, name: str, **detail: Any) -> dict[str, Any]:
    event = "would_stop" if s.dry_run else "fault_stopped"
    return {"event": event, "fault": name, "dry_run": s.dry_run, **detail}


_ACTIONS = Actions()


# ---------------------------------------------------------------- the providers


def kill_replicas(
    name: str = "kill-replica",
    count: int | None = None,
    percent: float | None = None,
    configuration: Configuration = None,
) -> dict[str, Any]:
    """Kill ``count`` (or ``percent`` of the) matching replicas/pods, chosen at random."""
    settings = parse_settings(configuration)
    return _ACTIONS.kill_replicas(settings, name=name, count=count, percent=percent)


def zone_loss(
    zone: str, name: str = "zone-loss", configuration: Configuration = None
) -> dict[str, Any]:
    """Delete every matching pod in ``zone`` (kubernetes only)."""
    return _ACTIONS.zone_loss(parse_settings(configuration), name=name, zone=zone)


def start_network_fault(
    name: str,
    toxic: str,
    attributes: dict[str, float] | None = None,
    stream: str = "downstream",
    toxicity: float = 1.0,
    link: str = LINK,
    duration_s: float = 60.0,
    configuration: Configuration = None,
) -> dict[str, Any]:
    """Start a leased network fault (a fault-proxy toxic, or a NetworkPolicy cut)."""
    return _ACTIONS.start_network_fault(
        parse_settings(configuration), name=name, toxic=toxic, attributes=attributes or {},
        stream=stream, toxicity=float(toxicity), link=link, duration_s=float(duration_s),
    )  # fmt: skip


def heal_network_fault(
    name: str, link: str = LINK, configuration: Configuration = None
) -> dict[str, Any]:
    """Remove a network fault (idempotent: a fault already gone is fine)."""
    return _ACTIONS.heal_network_fault(parse_settings(configuration), name=name, link=link)


def await_recovery(
    name: str, timeout_s: float = 30.0, configuration: Configuration = None
) -> dict[str, Any]:
    """Wait until every replica/pod is healthy again (the end of a kill's window)."""
    settings = parse_settings(configuration)
    return _ACTIONS.await_recovery(settings, name=name, timeout_s=float(timeout_s))
