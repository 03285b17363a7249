"""Abort an Argo Rollouts ``Rollout`` (argoproj.io/v1alpha1), as its kubectl plugin does.

``kubectl argo rollouts abort NAME`` sends one merge patch ``{"status": {"abort": true}}``
to the Rollout's ``status`` subresource, and to the Rollout itself when the CRD has no
status subresource (404). Argo's controller then scales the stable ReplicaSet back up
and reports the Rollout ``Degraded`` with a ``RolloutAborted`` message; ``spec.template``
still names the new version. See docs/rollback.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from platforms.kubernetes import KubeClients
from platforms.kubernetes_deployment import json_object
from platforms.kubernetes_errors import Tolerated, api_errors
from platforms.kubernetes_events import ObjectRef, create_event, event_manifest
from slo.errors import InfraError, PeakopsError, RevertError, UsageError

__all__ = ["ABORT_PATCH", "API_VERSION", "ArgoRollouts", "RolloutState", "abort_status"]

GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "rollouts"
API_VERSION = f"{GROUP}/{VERSION}"
ABORT_PATCH: dict[str, Any] = {"status": {"abort": True}}

Raw = dict[str, Any]


@dataclass(frozen=True)
class RolloutState:
    """A Rollout as read."""

    raw: Raw

    @property
    def aborted(self) -> bool:
        return bool((self.raw.get("status") or {}).get("abort"))

    @property
    def revision(self) -> str:
        annotations = self.raw.get("metadata", {}).get("annotations") or {}
        return str(annotations.get("rollout.argoproj.io/revision", "?"))

    def ref(self) -> ObjectRef:
        return ObjectRef.of(self.raw, api_version=API_VERSION, kind="Rollout")


def abort_status(rollout: Raw) -> tuple[bool, str]:
    """Whether Argo's controller has carried out the abort, and what it says."""
    status = rollout.get("status") or {}
    phase, message = str(status.get("phase", "")), str(status.get("message", ""))
    done = bool(status.get("abort")) and phase == "Degraded" and "RolloutAborted" in message
    return done, f"phase {phase or '?'}: {message or 'no message'}"


class ArgoRollouts:
    """The API calls of an abort; every one carries ``request_timeout_s``."""

    def __init__(
        self,
        clients: KubeClients,
        *,
        request_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._clients = clients
        self._timeout = request_timeout_s
        self._clock = clock
        self._sleep = sleep
        self._now = now

    def read(self, namespace: str, name: str, error: type[PeakopsError] = InfraError) -> Raw:
        where = f"rollout {namespace}/{name}"
        try:
            with api_errors(
                f"reading {where}", host=self._clients.host, error=error, tolerate=(404,)
            ):
                return json_object(
                    self._clients.custom.get_namespaced_custom_object(
                        GROUP, VERSION, namespace, PLURAL, name,
                        _preload_content=False, _request_timeout=self._timeout,
                    )
                )  # fmt: skip
        except Tolerated as err:
            raise UsageError(f"{where} not found (is Argo Rollouts installed?)") from err

    def state(self, namespace: str, name: str) -> RolloutState:
        return RolloutState(self.read(namespace, name))

    def abort(self, namespace: str, name: str) -> str:
        """Send :data:`ABORT_PATCH`; returns the path patched (``status`` or the object)."""
        where = f"aborting rollout {namespace}/{name}"
        try:
            with api_errors(where, host=self._clients.host, error=RevertError, tolerate=(404,)):
                self._clients.custom.patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, PLURAL, name, ABORT_PATCH,
                    _content_type="application/merge-patch+json",
                    _preload_content=False, _request_timeout=self._timeout,
                )  # fmt: skip
                return "status"
        except Tolerated:
            pass  # no status subresource: patch the object, as the plugin does
        with api_errors(where, host=self._clients.host, error=RevertError):
            self._clients.custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, ABORT_PATCH,
                _content_type="application/merge-patch+json",
                _preload_content=False, _request_timeout=self._timeout,
            )  # fmt: skip
        return "object"

    def annotate(self, namespace: str, name: str, annotations: Mapping[str, str]) -> None:
        body = {"metadata": {"annotations": dict(annotations)}}
        with api_errors(
            f"annotating rollout {namespace}/{name}", host=self._clients.host, error=RevertError
        ):
            self._clients.custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, body,
                _content_type="application/merge-patch+json",
                _preload_content=False, _request_timeout=self._timeout,
            )  # fmt: skip

    def event(self, ref: ObjectRef, *, reason: str, message: str) -> None:
        manifest = event_manifest(ref, reason=reason, message=message, now=self._now())
        create_event(self._clients, manifest, timeout_s=self._timeout)

    def wait(self, namespace: str, name: str, *, timeout_s: float, poll_s: float = 1.0) -> str:
        """Poll until the controller reports the abort; RevertError on timeout."""
        deadline = self._clock() + timeout_s
        while True:
            done, detail = abort_status(self.read(namespace, name, RevertError))
            if done:
                return detail
            left = deadline - self._clock()
            if left <= 0:
                raise RevertError(
                    f"abort of rollout {namespace}/{name} not carried out within "
                    f"{timeout_s:g} s: {detail}"
                )
            self._sleep(min(poll_s, left))
