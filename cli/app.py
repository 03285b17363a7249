"""The peakops command line: parse, build, call one function, map the result to an exit code.

No logic lives here. Every user mistake becomes a one-line error on stderr and the
exit code of DESIGN.md, never a traceback. Sub-commands live beside this module.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cli.alerts_commands import alerts_app
from cli.chaos_commands import chaos_app
from cli.cleanup_commands import cleanup
from cli.collect_commands import collect
from cli.common import (
    AllowHostOption,
    ExitCodeOnBreachOption,
    OmsVersion,
    Output,
    OutputOption,
    PlanOption,
    ProcessesOption,
    allowed_hosts,
    append_step_summary,
    fail,
    load_plan_checked,
    load_with_overrides,
    parse_flag,
    run_with_progress,
    show,
    stderr,
    stdout,
    stopped,
    with_breach_exit_code,
)
from cli.dashboards_commands import dashboards_app
from cli.deploy_commands import deploy
from cli.live_view import run_with_live_view
from cli.profile_commands import profiles_app
from cli.report_commands import report
from cli.rollback_commands import rollback_app
from cli.target_commands import target_app
from cli.watch_commands import watch
from rehearsal.shutdown import Stopped
from slo.durations import parse_duration
from slo.errors import PeakopsError
from slo.loader import load_plan
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
app.add_typer(profiles_app, name="profiles")
app.add_typer(chaos_app, name="chaos")
app.add_typer(alerts_app, name="alerts")
app.add_typer(dashboards_app, name="dashboards")
app.command()(cleanup)
app.add_typer(target_app, name="target")
app.command()(collect)
app.add_typer(rollback_app, name="rollback")
app.command()(deploy)
app.command()(watch)
app.command()(report)


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
    allow_host: AllowHostOption = None,
    exit_code_on_breach: ExitCodeOnBreachOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Run a peak rehearsal: target up, order flood, SLO gate. Exit code is the verdict.

    SIGINT, SIGTERM or SIGHUP stop it cleanly: load and faults stopped, target down,
    what was recorded gated (inconclusive); exit 128 + the signal (130, 143, 129).
    """
    try:
        the_plan = load_with_overrides(
            plan, duration=duration, oms_version=oms_version.value if oms_version else None
        )
        the_plan = with_breach_exit_code(the_plan, exit_code_on_breach)
        root = run_dir if run_dir is not None else Path(the_plan.outputs.run_dir)
        result = run_with_live_view(
            the_plan, root, processes, allowed_hosts(allow_host), plan.parent, console=stderr
        )
    except PeakopsError as err:
        fail(err)
    except Stopped as stop:
        stopped(stop, output)
    show(result, output)
    append_step_summary(result)
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
    allow_host: AllowHostOption = None,
    exit_code_on_breach: ExitCodeOnBreachOption = None,
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
            rate_per_s=parse_flag(parse_rate, "--rate", rate),
            duration_s=parse_flag(parse_duration, "--duration", duration),
            max_concurrency=max_concurrency,
            arrivals=arrivals.value,
            trace_sample_ratio=trace_sample_ratio,
        )
        plan = with_breach_exit_code(plan, exit_code_on_breach)
        result = run_with_progress(plan, run_dir, processes, allowed_hosts(allow_host))
    except PeakopsError as err:
        fail(err)
    except Stopped as stop:
        stopped(stop, output)
    show(result, output)
    raise typer.Exit(result.verdict.exit_code)


@app.command()
def gate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory, e.g. runs/20261122-...")],
    plan: Annotated[
        Path | None,
        typer.Option("--plan", "-p", help="Judge against this plan instead of the run's own."),
    ] = None,
    prometheus_url: Annotated[
        str | None,
        typer.Option(help="Read the request SLOs from this Prometheus over the run's window."),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(help="A non-loopback Prometheus host to allow (also PEAKOPS_ALLOWED_HOSTS)."),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="A run directory to compare with (the last good run): the plan's regression "
            "limits are judged against it. Runs of another load or chaos schedule are refused."
        ),
    ] = None,
    exit_code_on_breach: ExitCodeOnBreachOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Re-evaluate a finished (or crashed) run directory and write its verdict files.

    With --baseline RUN, also compare it with that run per endpoint and SLO and judge the
    plan's regression limits (regression:, docs/ci.md). When $GITHUB_STEP_SUMMARY is set,
    the Markdown summary is appended to it.
    """
    from collectors.rundir import RunDir
    from rollout.gate import gate_run, plan_of_run
    from rollout.promql import prometheus_url as checked
    from rollout.promql_gate import PromSource

    try:
        hosts = allowed_hosts(allow_host)
        source = None
        if prometheus_url is not None:
            source = PromSource(checked(prometheus_url, hosts, field="--prometheus-url"))
        run = RunDir.open(run_dir)
        against = RunDir.open(baseline) if baseline is not None else None
        the_plan = load_plan(plan) if plan is not None else plan_of_run(run)
        the_plan = with_breach_exit_code(the_plan, exit_code_on_breach)
        result = gate_run(run, the_plan, source, baseline=against)
    except PeakopsError as err:
        fail(err)
    show(result, output)
    append_step_summary(result)
    raise typer.Exit(result.verdict.exit_code)


@app.command()
def drift(
    run_dir: Annotated[Path, typer.Argument(help="A run directory, e.g. runs/20261122-...")],
    plan: Annotated[
        Path | None,
        typer.Option("--plan", "-p", help="Judge against this plan instead of the run's own."),
    ] = None,
    exit_code_on_breach: ExitCodeOnBreachOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Re-run the stock-drift checker on a run directory and judge the plan's drift SLOs.

    Writes drift.json. The exit code is the verdict of the plan's stock-drift objectives,
    decided like the gate does (tolerated faults honoured, incomplete data inconclusive).
    """
    from collectors.rundir import RunDir
    from rollout.drift import drift_summary
    from rollout.drift_view import drift_verdict, violation_lines
    from rollout.gate import plan_of_run

    try:
        run = RunDir.open(run_dir)
        the_plan = load_plan(plan) if plan is not None else plan_of_run(run)
        the_plan = with_breach_exit_code(the_plan, exit_code_on_breach)
        outcome = drift_verdict(run, the_plan)
    except PeakopsError as err:
        fail(err)
    report, verdict = outcome.report, outcome.verdict
    if output is Output.json:
        data = {"verdict": verdict.to_dict(), "drift": report.to_dict()}
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        stdout.print(drift_summary(report), highlight=False)
        if report.violations_total:
            stdout.print(f"violations ({report.violations_total}), seconds after load start:")
            lines = violation_lines(report.violations, report.violations_total,
                                    outcome.timeline.origin)  # fmt: skip
            for line in lines:
                stdout.print(f"  {line}", highlight=False, markup=False)
        for evaluation in verdict.evaluations:
            stdout.print(
                f"{evaluation.slo_id}: {evaluation.status.value}: {evaluation.reason}",
                highlight=False, markup=False,
            )  # fmt: skip
        stdout.print(f"drift verdict: {verdict.status.value} (exit {verdict.exit_code})  "
                     f"files: {run.file('drift.json')}", highlight=False)  # fmt: skip
    raise typer.Exit(verdict.exit_code)


@plan_app.command("validate")
def plan_validate(
    file: Annotated[Path, typer.Argument(help="The plan file to check.")],
    output: OutputOption = Output.table,
) -> None:
    """Check a plan file; print every problem with file, line, field and value.

    The adapter it names is imported and checked too (methods and their arguments).
    """
    try:
        the_plan = load_plan_checked(file)
    except PeakopsError as err:
        if output is Output.json:
            issues = [vars(i) for i in getattr(err, "issues", ())] or [{"message": str(err)}]
            print(json.dumps({"valid": False, "issues": issues}, indent=2))
            raise typer.Exit(int(err.exit_code)) from None
        fail(err)
    if output is Output.json:
        print(json.dumps({"valid": True, "name": the_plan.name}))
    else:
        load = the_plan.load
        stdout.print(
            f"{file}: ok ({len(the_plan.slos.objectives)} SLOs, {load.profile} profile, "
            f"{load.duration_s:g} s, {load.baseline_per_min:g}→{load.peak_rate_per_min:g} "
            f"orders/min, {load.mode} model)"
        )


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
    stores: Annotated[
        int, typer.Option(min=0, max=8, help="Store nodes (store-1...), selling their own stock.")
    ] = 0,
) -> None:
    """Run the reference OMS on 127.0.0.1 until Ctrl-C."""
    from platforms.local import LocalPlatform, OmsConfig

    config = OmsConfig(version=oms_version.value, replicas=replicas, port=port, stores=stores)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with LocalPlatform(config, work_dir) as platform:
            stdout.print(
                f"reference OMS {platform.revision}: orders {platform.base_url}  "
                f"inventory {platform.inventory_url}  (Ctrl-C to stop)"
            )
            for location, url in platform.store_urls().items():
                stdout.print(f"store {location}: {url}")
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
    except PeakopsError as err:
        fail(err)
