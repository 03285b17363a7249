"""``peakops chaos``: list the experiments, run one, reap leftover faults."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cli.common import (
    Output,
    OutputOption,
    fail,
    stderr,
    stdout,
)
from slo.errors import PeakopsError

__all__ = ["chaos_app"]

chaos_app = typer.Typer(
    help="Chaos Toolkit experiments: list them, run one, reap leftover faults.",
    no_args_is_help=True,
)


class ChaosPlatform(StrEnum):
    local = "local"
    kubernetes = "kubernetes"


NamespaceOption = Annotated[
    list[str] | None, typer.Option("--namespace", "-n", help="Kubernetes namespace (repeatable).")
]
KubeconfigOption = Annotated[
    str | None, typer.Option(help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config).")
]
KubeHostOption = Annotated[
    str | None, typer.Option(help="Kubernetes API URL without credentials (kubectl proxy).")
]


@chaos_app.command("list")
def chaos_list(output: OutputOption = Output.table) -> None:
    """List the shipped experiments (chaos/experiments/*.json)."""
    from chaos.catalog import list_experiments

    found = list_experiments()
    if output is Output.json:
        rows = [{"name": e.name, "title": e.title, "path": str(e.path)} for e in found]
        print(json.dumps(rows, indent=2, sort_keys=True))
        return
    for experiment in found:
        stdout.print(f"{experiment.name:<16} {experiment.title}", highlight=False)


@chaos_app.command("run")
def chaos_run(
    name: Annotated[str, typer.Argument(help="An experiment (see: peakops chaos list).")],
    platform: Annotated[ChaosPlatform, typer.Option(help="Where the fault lands.")] = (
        ChaosPlatform.local
    ),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be done; change nothing.")
    ] = False,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Kubernetes namespace.")
    ] = None,
    kubeconfig: KubeconfigOption = None,
    kube_host: KubeHostOption = None,
    state_file: Annotated[
        Path | None, typer.Option(help="Local platform handle (a run's chaos-platform.json).")
    ] = None,
    var: Annotated[
        list[str] | None, typer.Option(help="Configuration override key=value (repeatable).")
    ] = None,
    journal: Annotated[
        Path | None, typer.Option(help="Journal file (default: runs/chaos/NAME-TIME.json).")
    ] = None,
) -> None:
    """Run one experiment with rollbacks always played. Exit 5: a fault was not reverted."""
    from chaos.catalog import experiment_path
    from chaos.runner import parse_vars, run_child, runner_command

    options = {
        "peakops_platform": platform.value,
        "peakops_namespace": namespace,
        "peakops_kubeconfig": kubeconfig,
        "peakops_kube_host": kube_host,
        "peakops_state_file": state_file,
    }
    try:
        variables = {k: v for k, v in options.items() if v is not None}
        variables.update(parse_vars(var or []))
        path = experiment_path(name)
        if journal is None:
            journal = Path("runs", "chaos", f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json")
            journal.parent.mkdir(parents=True, exist_ok=True)
        command = runner_command(path, journal=journal, variables=variables, dry_run=dry_run)
    except PeakopsError as err:
        fail(err)
    from rehearsal.shutdown import Stopped, stop_on_signals

    try:
        with stop_on_signals():
            code = run_child(command)
    except Stopped as stop:
        stderr.print(f"peakops: {stop.reason}: the experiment was stopped; its rollbacks ran")
        raise typer.Exit(128 + stop.signum) from None
    raise typer.Exit(code)


@chaos_app.command("reap")
def chaos_reap(
    run_dir: Annotated[
        Path | None,
        typer.Option(help="A run directory: reap what that run may have left (its platform)."),
    ] = None,
    namespace: NamespaceOption = None,
    kubeconfig: KubeconfigOption = None,
    kube_host: KubeHostOption = None,
    control_url: Annotated[
        list[str] | None, typer.Option(help="A local fault proxy's control URL to reset.")
    ] = None,
) -> None:
    """Remove leftover faults: a run's fault proxies' toxics, expired NetworkPolicies.

    Exit 0 when nothing is left (a fault proxy that is not running holds no fault);
    exit 5 only when a fault is known to remain.
    """
    from chaos.reaper import Reaped, reap, reap_run

    config, host = kubeconfig or "", kube_host or ""
    try:
        reaped = Reaped()
        if run_dir is not None:
            reaped.add(reap_run(run_dir, kubeconfig=config, kube_host=host))
        if run_dir is None or namespace or control_url:
            reaped.add(
                reap(namespaces=namespace or [], control_urls=control_url or [],
                     kubeconfig=config, kube_host=host)
            )  # fmt: skip
    except PeakopsError as err:
        fail(err)
    for item in reaped.removed:
        stdout.print(f"removed {item}", highlight=False, markup=False)
    for note in reaped.notes:
        stdout.print(note, highlight=False, markup=False)
    left = "" if reaped.removed else ": nothing left"
    stdout.print(f"reaped {len(reaped.removed)} fault(s){left}", highlight=False, markup=False)
