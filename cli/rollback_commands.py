"""``peakops rollback``: roll a release back (Kubernetes or a running rehearsal), or serve
an Alertmanager webhook that does it (``peakops rollback serve``).

Parse, build, call one function, map the result to an exit code: 0 rolled back (or
nothing to do, or a dry run), 2 a bad flag or a refusal (namespace not allowlisted,
paused, a rollback loop), 3 the API or the rehearsal unreachable before anything
changed, 5 the rollback failed or did not complete within ``--timeout``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from contextlib import ExitStack
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from cli.common import Output, OutputOption, fail, parse_flag, stderr, stdout
from slo.durations import parse_duration
from slo.errors import PeakopsError, UsageError

if TYPE_CHECKING:
    from platforms.local_control import LocalControl, Revisions
    from rollout.rollback_action import RollbackAction
    from rollout.rollback_kubernetes import RollbackOutcome
    from rollout.webhook_server import WebhookServer

__all__ = ["rollback_app"]

ALLOWED_NAMESPACES_ENV = "PEAKOPS_ALLOWED_NAMESPACES"
DEFAULT_SECRET_ENV = "PEAKOPS_WEBHOOK_SECRET"  # rollout.webhook's, not imported: a fast --help

rollback_app = typer.Typer(invoke_without_command=True)


class RollbackPlatform(StrEnum):
    local = "local"
    kubernetes = "kubernetes"


PlatformOption = Annotated[RollbackPlatform, typer.Option(help="Where the release runs.")]
NamespaceOption = Annotated[
    str | None,
    typer.Option("--namespace", "-n", help=f"Kubernetes namespace (in {ALLOWED_NAMESPACES_ENV})."),
]
DeploymentOption = Annotated[
    str | None, typer.Option(help="The Deployment to roll back (kubectl rollout undo).")
]
RolloutOption = Annotated[
    str | None, typer.Option(help="An Argo Rollouts Rollout to abort instead.")
]
RunDirOption = Annotated[
    Path | None,
    typer.Option(
        help="A run directory: the rehearsal to roll back (--platform local); events go there."
    ),
]
TimeoutOption = Annotated[
    str, typer.Option(help="How long to wait for the rollout, e.g. 90s or 5m (exit 5 after).")
]
KubeconfigOption = Annotated[
    str | None,
    typer.Option(envvar="PEAKOPS_KUBECONFIG", help="Kubeconfig (default: $KUBECONFIG)."),
]
ContextOption = Annotated[str | None, typer.Option(help="Kubeconfig context.")]
KubeHostOption = Annotated[
    str | None,
    typer.Option(envvar="PEAKOPS_KUBE_HOST", help="API URL without credentials (kubectl proxy)."),
]


@rollback_app.callback()
def rollback(
    ctx: typer.Context,
    platform: PlatformOption = RollbackPlatform.kubernetes,
    namespace: NamespaceOption = None,
    deployment: DeploymentOption = None,
    rollout: RolloutOption = None,
    to_revision: Annotated[
        str | None, typer.Option(help="Roll back to this revision (default: the previous).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be restored; change nothing.")
    ] = False,
    reason: Annotated[
        str, typer.Option(help="Why: goes into the Event, the annotation and events.jsonl.")
    ] = "manual rollback",
    run_dir: RunDirOption = None,
    timeout: TimeoutOption = "5m",
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    kube_host: KubeHostOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Roll back: a Deployment (kubectl rollout undo), an Argo Rollout (abort), or the
    local platform of a running rehearsal (--platform local --run-dir RUN).

    Refuses a paused Deployment and a second rollback for the same bad revision; does
    nothing when the target already runs; leaves an audit trail (with --run-dir,
    events.jsonl lines). Exit 0 done or nothing to do, 2 bad flag or refused, 3 API or
    rehearsal unreachable, 5 rollback failed or not complete within --timeout.
    """
    if ctx.invoked_subcommand is not None:  # ``rollback serve``
        return
    try:
        timeout_s = _timeout(timeout)
        if platform is RollbackPlatform.local:
            _only_kubernetes(namespace=namespace, deployment=deployment, rollout=rollout)
            report = _rollback_local(_local_run_dir(run_dir), to_revision, dry_run, reason,
                                     timeout_s)  # fmt: skip
        else:
            outcome = _rollback_kubernetes(
                (namespace, deployment, rollout), _kube_revision(to_revision), dry_run, reason,
                run_dir, timeout_s, (kube_host, kubeconfig, context),
            )  # fmt: skip
    except PeakopsError as err:
        fail(err)
    if platform is RollbackPlatform.local:
        _show_local(report, output)
    else:
        _show_kubernetes(outcome, output)


def _rollback_kubernetes(
    target: tuple[str | None, str | None, str | None],
    to_revision: int | None,
    dry_run: bool,
    reason: str,
    run_dir: Path | None,
    timeout_s: float,
    client_args: tuple[str | None, str | None, str | None],
) -> RollbackOutcome:
    from platforms.kubernetes import build_clients  # imported late: a fast --help
    from platforms.kubernetes_argo import ArgoRollouts
    from platforms.kubernetes_rollback import DeploymentRollback
    from rollout.rollback_audit import RunAudit
    from rollout.rollback_kubernetes import RollbackRequest, abort_rollout, rollback_deployment

    namespace, name, kind = _kube_target(*target)
    allowed = _allowlisted(namespace)  # before any file or request
    request = RollbackRequest(
        namespace, name, kind, to_revision=to_revision, dry_run=dry_run,
        reason=reason, timeout_s=timeout_s,
    )  # fmt: skip
    audit = RunAudit.open(run_dir)
    kube_host, kubeconfig, context = client_args
    if kube_host is not None:
        clients = build_clients(host=kube_host)
    else:
        clients = build_clients(kubeconfig, context=context)
    try:
        if kind == "rollout":
            return abort_rollout(ArgoRollouts(clients), request, allowed, audit)
        return rollback_deployment(DeploymentRollback(clients), request, allowed, audit)
    finally:
        audit.close()
        clients.close()


def _show_kubernetes(outcome: RollbackOutcome, output: Output) -> None:
    for warning in outcome.warnings:
        stderr.print(f"peakops: warning: {warning}", highlight=False, markup=False)
    if output is Output.json:
        print(json.dumps(outcome.to_dict(), indent=2, sort_keys=True))
        return
    stdout.print(outcome.message, highlight=False, markup=False)
    if outcome.action == "dry_run":
        stdout.print(f"PATCH {outcome.patch_path}", highlight=False, markup=False)
        print(json.dumps(outcome.patch, indent=2, sort_keys=True))


def _rollback_local(
    run_dir: Path, to_revision: str | None, dry_run: bool, reason: str, timeout_s: float
) -> dict[str, Any]:
    """Through the rehearsal's control API; a dry run only reads ``/revisions``."""
    from platforms.local_control import LocalControl

    control = LocalControl.from_run_dir(run_dir, timeout_s=timeout_s)
    head = {"target": f"local platform of run {control.run_id}", "run_id": control.run_id}
    if dry_run:
        return head | _local_dry_run(control, to_revision)
    data = control.rollback(reason=reason, source="cli", to_revision=to_revision)
    return head | {
        "action": str(data.get("action", "")), "from_revision": data.get("from_revision"),
        "to_revision": data.get("to_revision"), "message": str(data.get("message", "")),
    }  # fmt: skip


def _local_dry_run(control: LocalControl, to_revision: str | None) -> dict[str, Any]:
    revisions = control.revisions()
    current = revisions.current
    if to_revision is not None and to_revision not in revisions.revisions:
        known = ", ".join(revisions.revisions) or "none"
        raise UsageError(
            f"--to-revision: run {control.run_id} has no revision {to_revision!r} (it has: {known})"
        )
    target = to_revision if to_revision is not None else _previous(revisions)
    where = f"the local platform of run {control.run_id}"
    if target is None:
        action, message = "nothing_to_do", f"dry run: {where} runs {current}, its only revision"
    elif target == current:
        action, message = "nothing_to_do", f"dry run: {where} already runs {current}"
    else:
        action = "dry_run"
        message = f"dry run: would roll {where} back from {current} to {target}; nothing was sent"
    return {"action": action, "from_revision": current, "to_revision": target, "message": message}


def _previous(revisions: Revisions) -> str | None:
    """The revision run before the current one (``/revisions`` lists them oldest first)."""
    ordered = list(revisions.revisions)
    if revisions.current in ordered:
        ordered = ordered[: len(ordered) - 1 - ordered[::-1].index(revisions.current)]
    return next((r for r in reversed(ordered) if r != revisions.current), None)


def _show_local(report: dict[str, Any], output: Output) -> None:
    if output is Output.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    elif report["action"] == "refused":
        stderr.print(f"peakops: refused: {report['message']}", highlight=False, markup=False)
    else:
        stdout.print(report["message"], highlight=False, markup=False)
    if report["action"] == "refused":
        raise typer.Exit(2)


@rollback_app.command("serve")
def serve(
    listen: Annotated[
        str, typer.Option(help="Loopback HOST:PORT to listen on, e.g. 127.0.0.1:9094 (0: any).")
    ],
    platform: PlatformOption = RollbackPlatform.kubernetes,
    namespace: NamespaceOption = None,
    deployment: DeploymentOption = None,
    rollout: RolloutOption = None,
    run_dir: RunDirOption = None,
    secret_env: Annotated[
        str, typer.Option(help="Environment variable holding the shared secret (bearer token).")
    ] = DEFAULT_SECRET_ENV,
    state: Annotated[
        Path | None,
        typer.Option(help="JSON-lines file remembering what was acted on, across restarts."),
    ] = None,
    timeout: TimeoutOption = "5m",
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    kube_host: KubeHostOption = None,
) -> None:
    """Receive Alertmanager webhooks; roll the target back on a firing page alert for it.

    Requests must carry 'Authorization: Bearer <secret>' ($PEAKOPS_WEBHOOK_SECRET, or
    --secret-env). At most one rollback per alert fingerprint and running revision.
    Every decision is a JSON line on stdout. Stops cleanly on SIGTERM or Ctrl-C.
    """
    from rollout.webhook import parse_listen, read_secret

    with ExitStack() as stack:
        try:
            address = parse_listen(listen)
            secret = read_secret(secret_env, os.environ)
            timeout_s = _timeout(timeout)
            if platform is RollbackPlatform.local:
                _only_kubernetes(namespace=namespace, deployment=deployment, rollout=rollout)
                action = _local_action(_local_run_dir(run_dir), timeout_s)
            else:
                action = _kube_action((namespace, deployment, rollout), run_dir, timeout_s,
                                      (kube_host, kubeconfig, context))  # fmt: skip
            server = _build_server(stack, action, address, secret, run_dir, state)
        except PeakopsError as err:
            fail(err)
        stderr.print(f"peakops: listening on {server.url} for {action.target}",
                     highlight=False, markup=False, soft_wrap=True)  # fmt: skip
        _serve_until_signalled(server)


def _build_server(
    stack: ExitStack,
    action: RollbackAction,
    address: tuple[str, int],
    secret: str,
    run_dir: Path | None,
    state: Path | None,
) -> WebhookServer:
    from rollout.rollback_audit import RunAudit
    from rollout.webhook import Ledger
    from rollout.webhook_server import EventSink, Receiver, WebhookServer

    ledger = Ledger(state)
    stack.callback(ledger.close)
    audit = RunAudit.open(run_dir) if run_dir is not None else None
    if audit is not None:
        stack.callback(audit.close)
    sink = EventSink(sys.stdout, audit)
    return WebhookServer(address, Receiver(action, ledger, sink), secret, sink)


def _serve_until_signalled(server: WebhookServer) -> None:
    from rollout.webhook_server import serve_until

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        serve_until(server, stop)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _local_action(run_dir: Path, timeout_s: float) -> RollbackAction:
    from rollout.rollback_action import LocalRunRollback

    return LocalRunRollback(run_dir, timeout_s=timeout_s)


def _kube_action(
    target: tuple[str | None, str | None, str | None],
    run_dir: Path | None,
    timeout_s: float,
    client_args: tuple[str | None, str | None, str | None],
) -> RollbackAction:
    from rollout.rollback_action import KubernetesRollback

    namespace, name, kind = _kube_target(*target)
    host, kubeconfig, context = client_args
    return KubernetesRollback(
        namespace, name, kind, allowed=_allowlisted(namespace), host=host,
        kubeconfig=kubeconfig, context=context, timeout_s=timeout_s, run_dir=run_dir,
    )  # fmt: skip


def _kube_target(
    namespace: str | None, deployment: str | None, rollout: str | None
) -> tuple[str, str, Literal["deployment", "rollout"]]:
    if (deployment is None) == (rollout is None):
        raise UsageError("give exactly one of --deployment or --rollout")
    if namespace is None:
        raise UsageError("--namespace is required for --platform kubernetes")
    if deployment is not None:
        return namespace, deployment, "deployment"
    return namespace, str(rollout), "rollout"


def _allowlisted(namespace: str) -> tuple[str, ...]:
    from rollout.rollback_kubernetes import check_allowlisted, parse_allowlist

    allowed = parse_allowlist(os.environ.get(ALLOWED_NAMESPACES_ENV))
    check_allowlisted(namespace, allowed)
    return allowed


def _only_kubernetes(**flags: str | None) -> None:
    given = [f"--{name}" for name, value in flags.items() if value is not None]
    if given:
        raise UsageError(f"{', '.join(given)}: only for --platform kubernetes")


def _local_run_dir(run_dir: Path | None) -> Path:
    if run_dir is None:
        raise UsageError(
            "--platform local needs --run-dir RUN: the run directory of a running rehearsal"
        )
    return run_dir


def _kube_revision(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"--to-revision: expected a revision number of 1 or more, got {text!r}")
    return int(text)


def _timeout(text: str) -> float:
    timeout_s = parse_flag(parse_duration, "--timeout", text)
    if timeout_s <= 0:
        raise UsageError(f"--timeout: must be positive, got {text!r}")
    return timeout_s
