"""The peakops command line: parse, build, call one function, map the result to an exit code.

No logic lives here. Every user mistake becomes a one-line error on stderr and the
exit code of DESIGN.md, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from rollout.console import render_result
from rollout.gate import GateResult
from slo.durations import parse_duration
from slo.errors import PeakopsError, UsageError
from slo.loader import load_plan
from slo.plan import Plan, with_overrides
from slo.rates import parse_rate

__all__ = ["app"]

app = typer.Typer(
    name="peakops",
    help="Peak-season rehearsals for retail order management systems: load, chaos, SLO gates.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
plan_app = typer.Typer(help="Work with plan files (peak.yaml).", no_args_is_help=True)
oms_app = typer.Typer(help="The embedded reference OMS.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")
app.add_typer(oms_app, name="oms")
profiles_app = typer.Typer(help="Retail traffic profiles (load.profile).", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")
chaos_app = typer.Typer(
    help="Chaos Toolkit experiments: list them, run one, reap leftover faults.",
    no_args_is_help=True,
)
app.add_typer(chaos_app, name="chaos")

# Pipes and CI logs get a fixed, wide layout instead of Rich's 80-column default.
stdout = Console(width=None if sys.stdout.isatty() else 120)
stderr = Console(stderr=True, soft_wrap=True)


class Output(StrEnum):
    table = "table"
    json = "json"


class OmsVersion(StrEnum):
    v1 = "v1"
    v2 = "v2"


PlanOption = Annotated[Path, typer.Option("--plan", "-p", help="Plan file.")]
ProcessesOption = Annotated[
    int, typer.Option(min=1, max=64, help="Load processes (Locust workers); 1 runs in one process.")
]
OutputOption = Annotated[
    Output, typer.Option("--output", "-o", help="table for people, json on stdout for machines.")
]


def _fail(err: PeakopsError) -> NoReturn:
    stderr.print(f"[bold red]peakops: error:[/] {err}", highlight=False, markup=True)
    raise typer.Exit(int(err.exit_code))


def _load(path: Path, *, duration: str | None = None, oms_version: str | None = None) -> Plan:
    plan = load_plan(path)
    duration_s = None
    if duration is not None:
        try:
            duration_s = parse_duration(duration)
        except ValueError as err:
            raise UsageError(f"--duration: {err}") from err
        if duration_s <= 0:
            raise UsageError(f"--duration: must be positive, got {duration!r}")
        plan = _chaos_before(plan, duration_s)
    return with_overrides(plan, duration_s=duration_s, oms_version=oms_version)


def _chaos_before(plan: Plan, end_s: float) -> Plan:
    """Skip the chaos steps a shorter ``--duration`` leaves past the end of the load."""
    kept = tuple(step for step in plan.chaos if step.offset_s < end_s)
    if len(kept) == len(plan.chaos):
        return plan
    skipped = ", ".join(step.experiment for step in plan.chaos if step not in kept)
    stderr.print(f"peakops: skipping chaos {skipped}: it starts after the {end_s:g} s load")
    return plan.model_copy(update={"chaos": kept})


def _run_with_progress(plan: Plan, root: Path, processes: int) -> GateResult:
    from rehearsal.run import rehearse as run_rehearsal

    with Progress(
        TextColumn("[bold]flood"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    ) as bar:
        task = bar.add_task("flood", total=plan.load.duration_s)
        return run_rehearsal(
            plan,
            root,
            processes=processes,
            progress=lambda done, _total: bar.update(task, completed=done),
        )


def _show(result: GateResult, output: Output) -> None:
    if output is Output.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        render_result(result, stdout)


@app.command()
def rehearse(
    plan: PlanOption = Path("peak.yaml"),
    duration: Annotated[
        str | None, typer.Option(help="Override load.duration, e.g. 30s or 5m.")
    ] = None,
    oms_version: Annotated[
        OmsVersion | None, typer.Option(help="Override target.omsVersion (embedded OMS).")
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Where run directories go (default: outputs.runDir).")
    ] = None,
    processes: ProcessesOption = 1,
    output: OutputOption = Output.table,
) -> None:
    """Run a peak rehearsal: target up, order flood, SLO gate. Exit code is the verdict."""
    try:
        the_plan = _load(
            plan, duration=duration, oms_version=oms_version.value if oms_version else None
        )
        root = run_dir if run_dir is not None else Path(the_plan.outputs.run_dir)
        result = _run_with_progress(the_plan, root, processes)
    except PeakopsError as err:
        _fail(err)
    except KeyboardInterrupt:
        stderr.print("peakops: interrupted; the run directory keeps what was recorded")
        raise typer.Exit(130) from None
    _show(result, output)
    raise typer.Exit(result.verdict.exit_code)


class Arrivals(StrEnum):
    uniform = "uniform"
    poisson = "poisson"


@app.command()
def load(
    url: Annotated[str, typer.Option(help="The URL to flood (an allowlisted host: loopback).")],
    rate: Annotated[str, typer.Option(help="Arrival rate, e.g. 200/s or 900/min.")],
    duration: Annotated[str, typer.Option(help="How long, e.g. 30s or 5m.")] = "30s",
    arrivals: Annotated[Arrivals, typer.Option(help="Spacing of arrivals.")] = Arrivals.uniform,
    max_concurrency: Annotated[
        int, typer.Option(min=1, help="Requests in flight at most; more arrivals are dropped.")
    ] = 1000,
    trace_sample_ratio: Annotated[
        float, typer.Option(min=0, max=1, help="Share of requests traced (exported spans).")
    ] = 0.0,
    processes: ProcessesOption = 1,
    run_dir: Annotated[Path, typer.Option(help="Where the run directory goes.")] = Path("runs"),
    output: OutputOption = Output.table,
) -> None:
    """Flood one URL at a fixed arrival rate (open model, like wrk2 -R) and judge it.

    Latency is measured from each request's intended start, so a stalling server shows
    its true tail. Prints planned, sent and dropped arrivals and p50/p95/p99/p99.9.
    """
    from rehearsal.adhoc import url_flood_plan

    try:
        plan = url_flood_plan(
            url=url,
            rate_per_s=_flag(parse_rate, "--rate", rate),
            duration_s=_flag(parse_duration, "--duration", duration),
            max_concurrency=max_concurrency,
            arrivals=arrivals.value,
            trace_sample_ratio=trace_sample_ratio,
        )
        result = _run_with_progress(plan, run_dir, processes)
    except PeakopsError as err:
        _fail(err)
    except KeyboardInterrupt:
        stderr.print("peakops: interrupted; the run directory keeps what was recorded")
        raise typer.Exit(130) from None
    _show(result, output)
    raise typer.Exit(result.verdict.exit_code)


def _flag(parse: Callable[[str], float], flag: str, text: str) -> float:
    try:
        return parse(text)
    except ValueError as err:
        raise UsageError(f"{flag}: {err}") from err


@app.command()
def gate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory, e.g. runs/20261122-...")],
    plan: Annotated[
        Path | None,
        typer.Option("--plan", "-p", help="Judge against this plan instead of the run's own."),
    ] = None,
    output: OutputOption = Output.table,
) -> None:
    """Re-evaluate a finished (or crashed) run directory and write its verdict files."""
    from collectors.rundir import RunDir
    from rollout.gate import gate_run, plan_of_run

    try:
        run = RunDir.open(run_dir)
        the_plan = load_plan(plan) if plan is not None else plan_of_run(run)
        result = gate_run(run, the_plan)
    except PeakopsError as err:
        _fail(err)
    _show(result, output)
    raise typer.Exit(result.verdict.exit_code)


@app.command()
def drift(
    run_dir: Annotated[Path, typer.Argument(help="A run directory, e.g. runs/20261122-...")],
    output: OutputOption = Output.table,
) -> None:
    """Re-run the stock-drift checker on a run directory and write drift.json.

    Exit 0 when no unit was oversold and no observation left the expected interval,
    1 otherwise.
    """
    from collectors.rundir import RunDir
    from rollout.drift import check_drift, drift_summary
    from rollout.gate import plan_of_run

    try:
        run = RunDir.open(run_dir)
        report = check_drift(run, plan_of_run(run))
    except PeakopsError as err:
        _fail(err)
    if report is None:
        _fail(UsageError(f"{run_dir}: no ledger.jsonl or stock.jsonl: nothing to check"))
    if output is Output.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        stdout.print(drift_summary(report))
        for violation in report.violations[:10]:
            stdout.print(f"  {violation.to_dict()}")
        stdout.print(f"files: {run.file('drift.json')}")
    clean = (
        report.oversell_units == 0
        and report.truth_outside_interval == 0
        and (report.views_outside_interval == 0)
    )
    raise typer.Exit(0 if clean else 1)


@plan_app.command("validate")
def plan_validate(
    file: Annotated[Path, typer.Argument(help="The plan file to check.")],
    output: OutputOption = Output.table,
) -> None:
    """Check a plan file; print every problem with file, line, field and value."""
    try:
        the_plan = load_plan(file)
    except PeakopsError as err:
        if output is Output.json:
            issues = [vars(i) for i in getattr(err, "issues", ())] or [{"message": str(err)}]
            print(json.dumps({"valid": False, "issues": issues}, indent=2))
            raise typer.Exit(int(err.exit_code)) from None
        _fail(err)
    if output is Output.json:
        print(json.dumps({"valid": True, "name": the_plan.name}))
    else:
        load = the_plan.load
        stdout.print(
            f"{file}: ok ({len(the_plan.slos.objectives)} SLOs, {load.profile} profile, "
            f"{load.duration_s:g} s, {load.baseline_per_min:g}→{load.peak_rate_per_min:g} "
            f"orders/min, {load.mode} model)"
        )


@profiles_app.command("list")
def profiles_list(output: OutputOption = Output.table) -> None:
    """List the traffic profiles a plan can name in load.profile."""
    from rich.table import Table

    from scenarios.profile_chart import preset_summary
    from scenarios.profiles import list_presets
    from slo.durations import format_duration

    presets = list_presets()
    if output is Output.json:
        print(json.dumps([preset_summary(p) for p in presets], indent=2, sort_keys=True))
        return
    table = Table("profile", "description", "natural length")
    for p in presets:
        length = "the run" if p.natural_length_s is None else format_duration(p.natural_length_s)
        table.add_row(p.name, p.description, length)
    stdout.print(table)


@profiles_app.command("show")
def profiles_show(
    name: Annotated[str, typer.Argument(help="A profile name (see: peakops profiles list).")],
    plan: PlanOption = Path("peak.yaml"),
    duration: Annotated[
        str | None, typer.Option(help="Override load.duration, e.g. 60s or 10m.")
    ] = None,
    baseline: Annotated[
        float | None, typer.Option(help="Override load.baseline (orders/min).")
    ] = None,
    peak: Annotated[float | None, typer.Option(help="Override load.peak (orders/min).")] = None,
    output: OutputOption = Output.table,
) -> None:
    """Draw a traffic profile with the plan's load numbers (orders/min over the run)."""
    from scenarios.profile_chart import profile_to_dict, render_chart
    from scenarios.profiles import build_profile, load_preset

    try:
        try:
            preset = load_preset(name)
        except ValueError as err:
            raise UsageError(str(err)) from err
        load = with_overrides(
            _load(plan, duration=duration),
            profile=name,
            baseline_per_min=baseline,
            peak_per_min=peak,
        ).load
        profile = build_profile(load)
    except PeakopsError as err:
        _fail(err)
    if output is Output.json:
        print(json.dumps(profile_to_dict(profile), indent=2, sort_keys=True))
    else:
        print(f"{preset.name}: {preset.description}")
        print(render_chart(profile))


@oms_app.command("serve")
def oms_serve(
    replicas: Annotated[int, typer.Option(min=1, max=16, help="Order replicas.")] = 2,
    oms_version: Annotated[
        OmsVersion, typer.Option(help="v1 correct; v2 the regression.")
    ] = OmsVersion.v1,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Public orders port (default: a free one).")
    ] = None,
    work_dir: Annotated[Path, typer.Option(help="Databases and logs.")] = Path("runs/oms"),
) -> None:
    """Run the reference OMS on 127.0.0.1 until Ctrl-C."""
    from platforms.local import LocalPlatform, OmsConfig

    config = OmsConfig(version=oms_version.value, replicas=replicas, port=port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with LocalPlatform(config, work_dir) as platform:
            stdout.print(
                f"reference OMS {platform.revision}: orders {platform.base_url}  "
                f"inventory {platform.inventory_url}  (Ctrl-C to stop)"
            )
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    except PeakopsError as err:
        _fail(err)


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
        _fail(err)
    raise typer.Exit(run_child(command))


@chaos_app.command("reap")
def chaos_reap(
    namespace: NamespaceOption = None,
    kubeconfig: KubeconfigOption = None,
    kube_host: KubeHostOption = None,
    control_url: Annotated[
        list[str] | None, typer.Option(help="A local fault proxy's control URL to reset.")
    ] = None,
) -> None:
    """Remove faults whose lease ran out (NetworkPolicies) or every toxic of a fault proxy."""
    from chaos.reaper import reap

    try:
        removed = reap(
            namespaces=namespace or [], control_urls=control_url or [],
            kubeconfig=kubeconfig or "", kube_host=kube_host or "",
        )  # fmt: skip
    except PeakopsError as err:
        _fail(err)
    for item in removed:
        stdout.print(f"removed {item}", highlight=False)
    stdout.print(f"reaped {len(removed)} fault(s)", highlight=False)


if __name__ == "__main__":  # pragma: no cover
    app()
