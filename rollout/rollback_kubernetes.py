"""Roll a Kubernetes Deployment back (or abort an Argo Rollout) safely, once, with an audit.

The order of one Deployment rollback::

    allowlist -> GET deployment, LIST replicasets -> paused? -> choose the revision
    -> policy (already current? loop? once per bad revision?) -> [dry run: stop here]
    -> events.jsonl rollback_started -> PATCH (kubectl's JSON patch) -> PATCH marks
    -> Event PeakopsRollback -> wait for the rollout -> events.jsonl rollback_finished

Nothing is sent before the policy has said yes, and nothing at all in a dry run. The
API calls live in ``platforms/kubernetes_rollback.py`` and ``platforms/kubernetes_argo.py``;
the rules in :mod:`rollout.rollback_policy`. See docs/rollback.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NoReturn

from platforms.kubernetes_argo import ABORT_PATCH, API_VERSION, ArgoRollouts
from platforms.kubernetes_events import ObjectRef
from platforms.kubernetes_rollback import (
    BAD_REVISION,
    BAD_TEMPLATES,
    LAST_ROLLBACK,
    DeploymentRollback,
    choose_replica_set,
    fingerprint,
    pod_template,
    undo_patch,
)
from rollout.rollback_audit import EVENT_REASON, AuditRecord, RunAudit, iso_utc
from rollout.rollback_policy import Action, BadMark, Marks, RevisionRef, RollbackRefused, decide
from slo.errors import PeakopsError, RevertError, UsageError
from slo.runfiles import (
    ROLLBACK_FAILED,
    ROLLBACK_FINISHED,
    ROLLBACK_REFUSED,
    ROLLBACK_SKIPPED,
    ROLLBACK_STARTED,
    ROLLOUT_ABORTED,
)

__all__ = [
    "RollbackOutcome",
    "RollbackRequest",
    "abort_rollout",
    "check_allowlisted",
    "parse_allowlist",
    "rollback_deployment",
]

Kind = Literal["deployment", "rollout"]


@dataclass(frozen=True)
class RollbackRequest:
    """What to roll back and how; ``timeout_s`` bounds the wait for the rollout."""

    namespace: str
    name: str
    kind: Kind = "deployment"
    to_revision: int | None = None
    dry_run: bool = False
    reason: str = "manual rollback"
    timeout_s: float = 300.0
    poll_s: float = 1.0

    @property
    def target(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class RollbackOutcome:
    """What happened. ``action``: rolled_back, aborted, dry_run, already_current,
    already_rolled_back or already_aborted; ``patch``: the body sent (or, in a dry
    run, that would be) to ``patch_path``."""

    target: str
    action: str
    message: str
    run_id: str
    from_revision: str | None = None
    to_revision: str | None = None
    patch: Any = None
    patch_path: str | None = None
    elapsed_s: float | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "action": self.action, "message": self.message,
            "run_id": self.run_id, "from_revision": self.from_revision,
            "to_revision": self.to_revision, "patch": self.patch, "patch_path": self.patch_path,
            "elapsed_s": self.elapsed_s, "warnings": list(self.warnings), "exit_code": 0,
        }  # fmt: skip


def parse_allowlist(text: str | None) -> tuple[str, ...]:
    """``shop,cart`` -> ("shop", "cart"): the chaos allowlist's format; empty allows none."""
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def check_allowlisted(namespace: str, allowed: Sequence[str]) -> None:
    """Refuse a namespace that is not in the allowlist (exact match), before any request."""
    if namespace not in allowed:
        shown = ", ".join(allowed) or "(none: set PEAKOPS_ALLOWED_NAMESPACES)"
        raise UsageError(
            f"namespace {namespace!r} is not allowlisted for rollback (allowed: {shown})"
        )


def rollback_deployment(
    engine: DeploymentRollback,
    request: RollbackRequest,
    allowed: Sequence[str],
    audit: RunAudit,
    *,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], float] = time.time,
) -> RollbackOutcome:
    """``kubectl rollout undo [--to-revision]``, with the policy and the audit trail."""
    check_allowlisted(request.namespace, allowed)
    ns, name, what = request.namespace, request.name, request.target
    state = engine.state(ns, name)
    if state.paused:
        _refuse(audit, request, RollbackRefused(
            f"cannot roll back {what}: it is paused; resume it first "
            f"(kubectl rollout resume deployment/{name} -n {ns})"
        ))  # fmt: skip
    number, replica_set = choose_replica_set(state, request.to_revision)
    current = RevisionRef(state.revision, state.fingerprint)
    target = RevisionRef(str(number), fingerprint(pod_template(replica_set)))
    marks = Marks.decode(state.annotations.get(BAD_TEMPLATES))
    try:
        decision = decide(what, current, target, marks, run_id=audit.run_id)
    except RollbackRefused as err:
        _refuse(audit, request, err)
    base = RollbackOutcome(what, "", "", audit.run_id, current.revision, target.revision)
    if decision.action is not Action.proceed:
        if not request.dry_run:
            audit.emit(ROLLBACK_SKIPPED, target=what, reason=request.reason,
                       action=decision.action.value, message=decision.message)  # fmt: skip
        return replace(base, action=decision.action.value, message=decision.message)
    patch = undo_patch(state.raw, replica_set)
    path = f"/apis/apps/v1/namespaces/{ns}/deployments/{name}"
    if request.dry_run:
        message = f"dry run: {decision.message} with this patch; nothing was sent"
        return replace(base, action="dry_run", message=message, patch=patch, patch_path=path)
    record = AuditRecord(what, "rollback", current.revision, target.revision,
                         request.reason, audit.run_id, iso_utc(now()))  # fmt: skip
    mark = BadMark(current.revision, audit.run_id, request.reason, record.at, target.fingerprint)
    annotations = {
        BAD_REVISION: current.revision,
        BAD_TEMPLATES: marks.with_bad(current.fingerprint, mark).encode(),
        LAST_ROLLBACK: record.annotation(),
    }
    audit.emit(ROLLBACK_STARTED, **record.event_fields())
    started = clock()
    warnings: list[str] = []
    try:
        engine.send(ns, name, patch)
        _mark(engine, ns, name, annotations, record)
        warnings += _event(engine, state.ref(), record)
        status = engine.wait(ns, name, timeout_s=request.timeout_s, poll_s=request.poll_s)
    except PeakopsError as err:
        audit.failed(ROLLBACK_FAILED, err, target=what)
        raise
    elapsed = round(clock() - started, 3)
    audit.emit(ROLLBACK_FINISHED, target=what, elapsed_s=elapsed, detail=status.detail,
               to=target.revision)  # fmt: skip
    return replace(
        base,
        action="rolled_back", message=f"{record.message()}; rollout complete ({status.detail})",
        patch=patch, patch_path=path, elapsed_s=elapsed, warnings=tuple(warnings),
    )  # fmt: skip


def abort_rollout(
    engine: ArgoRollouts,
    request: RollbackRequest,
    allowed: Sequence[str],
    audit: RunAudit,
    *,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], float] = time.time,
) -> RollbackOutcome:
    """``kubectl argo rollouts abort``: Argo returns to the stable ReplicaSet itself."""
    check_allowlisted(request.namespace, allowed)
    if request.to_revision is not None:
        raise UsageError(
            "--to-revision does not apply to an Argo Rollout: an abort returns it to its "
            "stable revision"
        )
    ns, name, what = request.namespace, request.name, request.target
    state = engine.state(ns, name)
    base = RollbackOutcome(what, "", "", audit.run_id, state.revision, "stable")
    if state.aborted:
        message = f"{what} is already aborted: nothing to do"
        if not request.dry_run:
            audit.emit(ROLLBACK_SKIPPED, target=what, reason=request.reason,
                       action="already_aborted", message=message)  # fmt: skip
        return replace(base, action="already_aborted", message=message)
    path = f"/apis/{API_VERSION}/namespaces/{ns}/rollouts/{name}/status"
    if request.dry_run:
        message = f"dry run: would abort {what} (Argo Rollouts) with this patch; nothing was sent"
        return replace(base, action="dry_run", message=message, patch=ABORT_PATCH, patch_path=path)
    record = AuditRecord(what, "abort", state.revision, "stable", request.reason,
                         audit.run_id, iso_utc(now()))  # fmt: skip
    audit.emit(ROLLBACK_STARTED, **record.event_fields())
    started = clock()
    warnings: list[str] = []
    try:
        patched = engine.abort(ns, name)
        engine.annotate(
            ns, name, {BAD_REVISION: state.revision, LAST_ROLLBACK: record.annotation()}
        )
        warnings += _event(engine, state.ref(), record)
        detail = engine.wait(ns, name, timeout_s=request.timeout_s, poll_s=request.poll_s)
    except PeakopsError as err:
        audit.failed(ROLLBACK_FAILED, err, target=what)
        raise
    elapsed = round(clock() - started, 3)
    audit.emit(ROLLOUT_ABORTED, target=what, elapsed_s=elapsed, detail=detail)
    if patched != "status":
        path = path.removesuffix("/status")
    return replace(
        base,
        action="aborted", message=f"{record.message()}; Argo reports {detail}",
        patch=ABORT_PATCH, patch_path=path, elapsed_s=elapsed, warnings=tuple(warnings),
    )  # fmt: skip


def _refuse(audit: RunAudit, request: RollbackRequest, err: RollbackRefused) -> NoReturn:
    if not request.dry_run:
        audit.failed(ROLLBACK_REFUSED, err, target=request.target, reason=request.reason)
    raise err


def _mark(
    engine: DeploymentRollback, ns: str, name: str, marks: dict[str, str], record: AuditRecord
) -> None:
    try:
        engine.annotate(ns, name, marks)
    except PeakopsError as err:
        raise RevertError(
            f"{record.target} was rolled back to revision {record.to_revision}, but the "
            f"bad-revision mark could not be written, so a further rollback is not guarded: {err}"
        ) from err


def _event(
    engine: DeploymentRollback | ArgoRollouts, ref: ObjectRef, record: AuditRecord
) -> list[str]:
    """Leave the Event; a failure is a warning: the annotation is the durable record."""
    try:
        engine.event(ref, reason=EVENT_REASON, message=record.message())
    except PeakopsError as err:
        return [f"the {EVENT_REASON} event could not be created ({err}); the annotation "
                f"{LAST_ROLLBACK} holds the audit record"]  # fmt: skip
    return []
