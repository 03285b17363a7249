"""An OMS that peakops does not run, reached by URL (plan ``target.kind: url``, platform local).

peakops sends it load and probes and nothing else: it neither starts, deploys, rolls
back nor injects faults into a system it does not run. For rollbacks of an OMS on a
cluster, use platform kind ``kubernetes`` (:mod:`platforms.kubernetes_deployment`).
"""

from __future__ import annotations

import httpx

from platforms.base import Endpoints, FaultTargets, Health
from platforms.probe import DEFAULT_PROBE_TIMEOUT_S, http_health
from slo.errors import UsageError

__all__ = ["ExternalTarget"]

_NOT_OURS = (
    "peakops cannot deploy or roll back an OMS it does not run (target.kind url on "
    "platform local): use platform kind kubernetes to let peakops manage its deployment"
)


class ExternalTarget:
    """The ``Platform`` of an OMS at ``base_url`` (and its inventory at ``truth_url``).

    ``start`` and ``stop`` do nothing (the rehearsal checks reachability itself);
    ``health`` is one GET of ``base_url``: any answer below 500 means it serves.
    ``transport`` is for tests (``httpx.MockTransport``).
    """

    kind: str = "url"

    def __init__(
        self,
        base_url: str,
        truth_url: str | None = None,
        *,
        timeout_s: float = DEFAULT_PROBE_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._endpoints = Endpoints(base_url=base_url, truth_url=truth_url)
        self._timeout_s = timeout_s
        self._transport = transport

    def start(self) -> None:
        """Nothing to start: the OMS runs elsewhere."""

    def stop(self) -> None:
        """Nothing to stop."""

    def endpoints(self) -> Endpoints:
        return self._endpoints

    def current_revision(self) -> str | None:
        """Unknown: peakops does not deploy it."""
        return None

    def revisions(self) -> list[str]:
        return []

    def deploy(self, revision: str) -> None:
        raise UsageError(f"deploy {revision!r} refused: {_NOT_OURS}")

    def rollback(self, to_revision: str | None = None) -> str:
        raise UsageError(f"rollback refused: {_NOT_OURS}")

    def health(self) -> Health:
        """One GET of the base URL: ok for any HTTP answer below 500."""
        return http_health(
            self._endpoints.base_url,
            accept=lambda status: status < 500,
            timeout_s=self._timeout_s,
            transport=self._transport,
        )

    def fault_targets(self) -> FaultTargets:
        """None: peakops injects no fault into a system it does not run."""
        return FaultTargets(kind="url")

    def reap_faults(self) -> list[str]:
        return []
