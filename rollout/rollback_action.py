"""What ``watch`` and ``rollback serve`` call to roll a release back, whatever the platform.

A :class:`RollbackAction` names its target and rolls it back once per bad revision;
the analysis loop (``peakops watch``) and the Alertmanager receiver
(``peakops rollback serve``) only decide *when*. Two implementations:

* :class:`LocalRunRollback`: the local platform of a running rehearsal, reached through
  its control endpoint (``platforms.local_control``; ``control.json`` in the run dir).
* :class:`KubernetesRollback`: a Deployment (``rollout.rollback_kubernetes``, the
  semantics of ``kubectl rollout undo``) or an Argo ``Rollout`` (aborted).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from platforms.kubernetes import KubeClients

__all__ = ["KubernetesRollback", "LocalRunRollback", "RollbackAction", "RollbackDone"]

Done = Literal["rolled_back", "nothing_to_do", "refused"]


@dataclass(frozen=True)
class RollbackDone:
    """The end of one rollback request: what happened, between which revisions, and why."""

    action: Done
    from_revision: str | None
    to_revision: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action, "from_revision": self.from_revision,
            "to_revision": self.to_revision, "message": self.message,
        }  # fmt: skip


class RollbackAction(Protocol):
    """Something that can be rolled back: ``target`` names it for people and logs."""

    @property
    def target(self) -> str: ...

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an alert with these labels is about this target."""
        ...

    def current_revision(self) -> str | None: ...

    def rollback(self, reason: str, *, source: str) -> RollbackDone:
        """Roll back to the previous revision; ``source`` says who asked (watch, webhook)."""
        ...


class LocalRunRollback:
    """The local platform of the rehearsal whose run directory is ``run_dir``.

    Alerts name it by ``peakops_run`` (``slo.conventions.LABEL_RUN``: the rehearsal's
    Prometheus attaches it, as an external label, to every alert it sends), or by
    ``run_id`` (a Prometheus configured by hand).
    """

    def __init__(self, run_dir: Path, *, timeout_s: float | None = None) -> None:
        from platforms.local_control import DEFAULT_TIMEOUT_S, LocalControl

        self._control = LocalControl.from_run_dir(run_dir, timeout_s=timeout_s or DEFAULT_TIMEOUT_S)
        self.run_id = self._control.run_id

    @property
    def target(self) -> str:
        return f"local platform of run {self.run_id}"

    def matches(self, labels: Mapping[str, str]) -> bool:
        from slo.conventions import LABEL_RUN

        return self.run_id in (labels.get(LABEL_RUN), labels.get("run_id"))

    def current_revision(self) -> str | None:
        return self._control.revisions().current

    def rollback(self, reason: str, *, source: str) -> RollbackDone:
        data = self._control.rollback(reason=reason, source=source)
        action = str(data.get("action"))
        done: Done = action if action in ("rolled_back", "refused") else "nothing_to_do"  # type: ignore[assignment]
        return RollbackDone(
            done, _text(data.get("from_revision")), _text(data.get("to_revision")),
            str(data.get("message", "")),
        )  # fmt: skip


class KubernetesRollback:
    """A Deployment (or an Argo Rollout) in an allowlisted namespace.

    Alerts name it by ``namespace`` and ``deployment`` (or ``rollout``) labels.
    """

    def __init__(
        self,
        namespace: str,
        name: str,
        kind: Literal["deployment", "rollout"],
        *,
        allowed: tuple[str, ...],
        host: str | None = None,
        kubeconfig: str | None = None,
        context: str | None = None,
        timeout_s: float = 300.0,
        run_dir: Path | None = None,
    ) -> None:
        from rollout.rollback_kubernetes import check_allowlisted

        check_allowlisted(namespace, allowed)
        self.namespace, self.name, self.kind = namespace, name, kind
        self._allowed = allowed
        self._client_args = (host, kubeconfig, context)
        self._timeout_s = timeout_s
        self._run_dir = run_dir

    @property
    def target(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    def matches(self, labels: Mapping[str, str]) -> bool:
        return labels.get("namespace") == self.namespace and labels.get(self.kind) == self.name

    def current_revision(self) -> str | None:
        from platforms.base import Endpoints
        from platforms.kubernetes_deployment import KubernetesDeployment

        if self.kind == "rollout":
            return None
        with closing(self._clients()) as clients:
            deployment = KubernetesDeployment(
                clients, self.namespace, self.name, Endpoints(base_url=""),
                allowed_namespaces=self._allowed,
            )  # fmt: skip
            return deployment.current_revision()

    def rollback(self, reason: str, *, source: str) -> RollbackDone:
        from platforms.kubernetes_argo import ArgoRollouts
        from platforms.kubernetes_rollback import DeploymentRollback
        from rollout.rollback_audit import RunAudit
        from rollout.rollback_kubernetes import RollbackRequest, abort_rollout, rollback_deployment
        from rollout.rollback_policy import RollbackRefused

        request = RollbackRequest(
            self.namespace, self.name, self.kind, reason=f"{reason} ({source})",
            timeout_s=self._timeout_s,
        )  # fmt: skip
        audit = RunAudit.open(self._run_dir)
        try:
            with closing(self._clients()) as clients:
                if self.kind == "rollout":
                    outcome = abort_rollout(ArgoRollouts(clients), request, self._allowed, audit)
                else:
                    engine = DeploymentRollback(clients)
                    outcome = rollback_deployment(engine, request, self._allowed, audit)
        except RollbackRefused as err:
            return RollbackDone("refused", None, None, str(err))
        finally:
            audit.close()
        done: Done = "rolled_back" if outcome.action in ("rolled_back", "aborted") else (
            "nothing_to_do")  # fmt: skip
        return RollbackDone(done, outcome.from_revision, outcome.to_revision, outcome.message)

    def _clients(self) -> KubeClients:
        from platforms.kubernetes import build_clients

        host, kubeconfig, context = self._client_args
        if host is not None:
            return build_clients(host=host)
        return build_clients(kubeconfig, context=context)


def _text(value: object) -> str | None:
    return None if value is None else str(value)
