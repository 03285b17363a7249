"""The reaper: remove faults whose lease ran out (``peakops chaos reap``).

On Kubernetes, expired peakops NetworkPolicies (a SIGKILLed injector leaves them
behind: nothing on the cluster enforces the lease but this). On the local platform,
every toxic of the given fault proxies (they drop lapsed toxics themselves; a reset is
the hard stop). Every rehearsal sweeps the same way before it starts.
"""

from __future__ import annotations

from collections.abc import Sequence

from chaos import kube
from chaos.settings import parse_settings
from platforms.faultproxy.client import FaultProxyClient
from slo.errors import InfraError, RevertError, UsageError

__all__ = ["reap"]


def reap(
    *,
    namespaces: Sequence[str] = (),
    control_urls: Sequence[str] = (),
    kubeconfig: str = "",
    kube_host: str = "",
    factory: kube.ClientsFactory = kube.default_clients,
) -> list[str]:
    """Reap; return what was removed (``namespace/name`` or ``url: toxic``)."""
    if not namespaces and not control_urls:
        raise UsageError("nothing to reap: give --namespace and/or --control-url")
    removed: list[str] = []
    for url in control_urls:
        try:
            with FaultProxyClient(url) as proxy:
                removed += [f"{url}: {name}" for name in proxy.reset()]
        except InfraError as err:
            raise RevertError(f"could not reset fault proxy {url}: {err}") from err
    if namespaces:
        settings = parse_settings(
            {
                "peakops_platform": "kubernetes",
                "peakops_kubeconfig": kubeconfig,
                "peakops_kube_host": kube_host,
            }
        )
        removed += kube.reap(settings, factory, list(namespaces))
    return removed
