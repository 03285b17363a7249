"""``peakops rollback``: roll a Kubernetes Deployment back, or abort an Argo Rollout.

Parse, build, call one function (:mod:`rollout.rollback_kubernetes`), map the result to
an exit code: 0 rolled back (or nothing to do, or a dry run), 2 a bad flag or a refusal
(namespace not allowlisted, paused, a rollback loop), 3 the API unreachable before
anything changed, 5 the rollback failed or did not complete within ``--timeout``.
"""

from __future__ import annotations

import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import typer

from cli.common import Output, OutputOption, fail, parse_flag, stderr, stdout
from slo.durations import parse_duration
from slo.errors import PeakopsError, UsageError

__all__ = ["rollback_app"]

ALLOWED_NAMESPACES_ENV = "PEAKOPS_ALLOWED_NAMESPACES"

rollback_app = typer.Typer(invoke_without_command=True)


class RollbackPlatform(StrEnum):
    local = "local"
    kubernetes = "kubernetes"


@rollback_app.callback()
def rollback(
    ctx: typer.Context,
    platform: Annotated[
        RollbackPlatform, typer.Option(help="Where the release runs.")
    ] = RollbackPlatform.kubernetes,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace", "-n", help=f"Kubernetes namespace (in {ALLOWED_NAMESPACES_ENV})."
        ),
    ] = None,
    deployment: Annotated[
        str | None, typer.Option(help="The Deployment to roll back (kubectl rollout undo).")
    ] = None,
    rollout: Annotated[
        str | None, typer.Option(help="An Argo Rollouts Rollout to abort instead.")
    ] = None,
    to_revision: Annotated[
        int | None, typer.Option(min=1, help="Roll back to this revision (default: the previous).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the patch; send nothing, record nothing.")
    ] = False,
    reason: Annotated[
        str, typer.Option(help="Why: goes into the Event, the annotation and events.jsonl.")
    ] = "manual rollback",
    run_dir: Annotated[
        Path | None, typer.Option(help="A run directory: its id is the run id; events go there.")
    ] = None,
    timeout: Annotated[
        str, typer.Option(help="How long to wait for the rollout, e.g. 90s or 5m (exit 5 after).")
    ] = "5m",
    kubeconfig: Annotated[
        str | None,
        typer.Option(envvar="PEAKOPS_KUBECONFIG", help="Kubeconfig (default: $KUBECONFIG)."),
    ] = None,
    context: Annotated[str | None, typer.Option(help="Kubeconfig context.")] = None,
    kube_host: Annotated[
        str | None,
        typer.Option(
            envvar="PEAKOPS_KUBE_HOST", help="API URL without credentials (kubectl proxy)."
        ),
    ] = None,
    output: OutputOption = Output.table,
) -> None:
    """Roll back: the previous revision (or --to-revision) of a Deployment, or abort a Rollout.

    Refuses a paused Deployment and a second rollback for the same bad revision; does
    nothing when the target already runs; leaves an Event, an annotation and (with
    --run-dir) events.jsonl lines. Exit 0 done or nothing to do, 2 bad flag or refused,
    3 API unreachable, 5 rollback failed or not complete within --timeout.
    """
    if ctx.invoked_subcommand is not None:  # e.g. a future ``rollback serve``
        return
    from platforms.kubernetes import build_clients  # imported late: a fast --help
    from platforms.kubernetes_argo import ArgoRollouts
    from platforms.kubernetes_rollback import DeploymentRollback
    from rollout.rollback_audit import RunAudit
    from rollout.rollback_kubernetes import (
        RollbackRequest,
        abort_rollout,
        check_allowlisted,
        parse_allowlist,
        rollback_deployment,
    )

    try:
        if platform is RollbackPlatform.local:
            raise UsageError("--platform local: rollback of the local platform is not yet built")
        name, kind = _target(namespace, deployment, rollout)
        assert namespace is not None  # _target checked it
        timeout_s = parse_flag(parse_duration, "--timeout", timeout)
        if timeout_s <= 0:
            raise UsageError(f"--timeout: must be positive, got {timeout!r}")
        allowed = parse_allowlist(os.environ.get(ALLOWED_NAMESPACES_ENV))
        check_allowlisted(namespace, allowed)  # before any file or request
        request = RollbackRequest(
            namespace, name, kind, to_revision=to_revision, dry_run=dry_run,
            reason=reason, timeout_s=timeout_s,
        )  # fmt: skip
        audit = RunAudit.open(run_dir)
        if kube_host is not None:
            clients = build_clients(host=kube_host)
        else:
            clients = build_clients(kubeconfig, context=context)
        try:
            if kind == "rollout":
                outcome = abort_rollout(ArgoRollouts(clients), request, allowed, audit)
            else:
                outcome = rollback_deployment(DeploymentRollback(clients), request, allowed, audit)
        finally:
            audit.close()
            clients.close()
    except PeakopsError as err:
        fail(err)
    for warning in outcome.warnings:
        stderr.print(f"peakops: warning: {warning}", highlight=False, markup=False)
    if output is Output.json:
        print(json.dumps(outcome.to_dict(), indent=2, sort_keys=True))
        return
    stdout.print(outcome.message, highlight=False, markup=False)
    if outcome.action == "dry_run":
        stdout.print(f"PATCH {outcome.patch_path}", highlight=False, markup=False)
        print(json.dumps(outcome.patch, indent=2, sort_keys=True))


def _target(
    namespace: str | None, deployment: str | None, rollout: str | None
) -> tuple[str, Literal["deployment", "rollout"]]:
    if (deployment is None) == (rollout is None):
        raise UsageError("give exactly one of --deployment or --rollout")
    if namespace is None:
        raise UsageError("--namespace is required for --platform kubernetes")
    return (deployment, "deployment") if deployment is not None else (str(rollout), "rollout")
