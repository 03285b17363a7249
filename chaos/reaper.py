"""The reaper: remove faults a killed run may have left (``peakops chaos reap``).

On Kubernetes, expired peakops NetworkPolicies (a SIGKILLed injector leaves them
behind: nothing on the cluster enforces the lease but this). On the local platform,
every toxic of the given fault proxies (they drop lapsed toxics themselves; a reset is
the hard stop). A proxy that is not running holds no fault: connection refused is
nothing to reap, not a failure. Only a fault known to remain (a proxy that answers but
will not reset) is a ``RevertError`` (exit 5). Every rehearsal sweeps the same way
before it starts.

``reap_run`` finds what to reap from a run directory: the fault proxies named in its
local platform handle (``chaos-platform.json``), and, for a plan on Kubernetes, the
plan's namespace.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import ValidationError

from chaos import kube
from chaos.handle import read_handle
from chaos.settings import parse_settings
from platforms.faultproxy.client import FaultProxyClient
from slo.errors import InfraError, RevertError, RunDirError, UsageError
from slo.plan import Platform
from slo.runfiles import CHAOS_HANDLE_FILE, HEADER_FILE

__all__ = ["Reaped", "reap", "reap_run"]


@dataclass
class Reaped:
    """What a reap removed (``namespace/name`` or ``url: toxic``) and what it found empty."""

    removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, other: Reaped) -> None:
        self.removed += other.removed
        self.notes += other.notes


def reap(
    *,
    namespaces: Sequence[str] = (),
    control_urls: Sequence[str] = (),
    kubeconfig: str = "",
    kube_host: str = "",
    factory: kube.ClientsFactory = kube.default_clients,
) -> Reaped:
    """Reset every fault proxy of ``control_urls``, reap expired policies in ``namespaces``."""
    if not namespaces and not control_urls:
        raise UsageError("nothing to reap: give --run-dir, --namespace and/or --control-url")
    reaped = Reaped()
    for url in control_urls:
        reaped.add(_reset(url))
    if namespaces:
        settings = parse_settings(
            {
                "peakops_platform": "kubernetes",
                "peakops_kubeconfig": kubeconfig,
                "peakops_kube_host": kube_host,
            }
        )
        removed = kube.reap(settings, factory, list(namespaces))
        reaped.removed += removed
        if not removed:
            reaped.notes.append(f"no expired peakops NetworkPolicy in {', '.join(namespaces)}")
    return reaped


def reap_run(
    run_dir: Path,
    *,
    kubeconfig: str = "",
    kube_host: str = "",
    factory: kube.ClientsFactory = kube.default_clients,
) -> Reaped:
    """Reap what the run in ``run_dir`` may have left (module docstring)."""
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    handle = run_dir / CHAOS_HANDLE_FILE
    control_urls: list[str] = []
    if handle.exists():
        try:
            control_urls = sorted(set(read_handle(handle).fault_proxies.values()))
        except UsageError as err:
            raise RunDirError(f"{handle}: unreadable local platform handle: {err}") from err
    platform = _platform(run_dir) if not control_urls else None
    namespaces = [platform.namespace] if platform and platform.namespace else []
    if not control_urls and not namespaces:
        what = "names no fault proxy" if handle.exists() else "is missing"
        note = (
            f"nothing to reap: the run's {CHAOS_HANDLE_FILE} {what} (its local platform "
            "never came up) and its plan is not on kubernetes"
        )
        return Reaped(notes=[note])
    return reap(
        namespaces=namespaces, control_urls=control_urls, kubeconfig=kubeconfig,
        kube_host=kube_host, factory=factory,
    )  # fmt: skip


def _reset(url: str) -> Reaped:
    """Remove every toxic of one fault proxy; a proxy that is not running holds none."""
    try:
        with FaultProxyClient(url) as proxy:
            return Reaped(removed=[f"{url}: {name}" for name in proxy.reset()])
    except InfraError as err:
        if isinstance(err.__cause__, httpx.ConnectError):  # refused: nothing listens
            return Reaped(notes=[f"{url}: no fault proxy is running there: nothing left"])
        raise RevertError(f"could not reset fault proxy {url}: {err}") from err


def _platform(run_dir: Path) -> Platform | None:
    """The plan's platform, from the run's header; None when the plan is on local."""
    header = run_dir / HEADER_FILE
    try:
        data = json.loads(header.read_bytes())
    except FileNotFoundError as err:
        raise RunDirError(f"{header}: missing: not a peakops run directory") from err
    except (OSError, ValueError) as err:
        raise RunDirError(f"{header}: corrupt header: {err}") from err
    plan = data.get("plan") if isinstance(data, dict) else None
    section = plan.get("platform", {}) if isinstance(plan, dict) else None
    if section is None:
        raise RunDirError(f"{header}: no plan snapshot: cannot tell where the run's faults were")
    try:
        platform = Platform.model_validate(section)
    except ValidationError as err:
        raise RunDirError(f"{header}: plan.platform: {err.errors()[0]['msg']}") from err
    return platform if platform.kind == "kubernetes" else None
