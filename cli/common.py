"""What every peakops command shares: consoles, output options, errors to exit codes,
loading a plan with its command-line overrides, running a rehearsal with progress, and
what CI pipelines need (``--exit-code-on-breach``, ``$GITHUB_STEP_SUMMARY``)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from collectors.adapters import check_plan_adapter
from collectors.cleanup import cleanup_note
from collectors.rundir import RunDir
from rehearsal.shutdown import Stopped, exit_code_for
from rollout.console import render_result
from rollout.gate import GateResult
from rollout.reports import markdown_summary
from slo.durations import parse_duration
from slo.errors import PeakopsError, UsageError
from slo.exitcodes import ExitCode
from slo.hosts import ALLOWED_HOSTS_ENV, operator_hosts
from slo.loader import load_plan
from slo.plan import Plan, with_overrides
from slo.runfiles import SUMMARY_FILE

__all__ = [
    "STEP_SUMMARY_ENV",
    "AllowHostOption",
    "ExitCodeOnBreachOption",
    "OmsVersion",
    "Output",
    "OutputOption",
    "PlanOption",
    "ProcessesOption",
    "allowed_hosts",
    "append_step_summary",
    "fail",
    "load_plan_checked",
    "load_with_overrides",
    "parse_flag",
    "run_with_progress",
    "show",
    "stderr",
    "stdout",
    "stopped",
    "with_breach_exit_code",
]

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
"""GitHub Actions' job summary file: the Markdown summary is appended to it when set."""

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
AllowHostOption = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-host",
        help="A non-loopback host load may go to (repeatable); the plan must allow it too. "
        "Also PEAKOPS_ALLOWED_HOSTS.",
    ),
]
ExitCodeOnBreachOption = Annotated[
    int | None,
    typer.Option(
        "--exit-code-on-breach",
        min=1,
        max=125,
        metavar="N",
        help="Exit N on an SLO breach instead of slos.breachExitCode (e.g. 99, like k6 "
        "pipelines); 2-5 are reserved.",
    ),
]
OutputOption = Annotated[
    Output, typer.Option("--output", "-o", help="table for people, json on stdout for machines.")
]


def fail(err: PeakopsError) -> NoReturn:
    stderr.print(f"[bold red]peakops: error:[/] {escape(str(err))}", highlight=False, markup=True)
    raise typer.Exit(int(err.exit_code))


def load_plan_checked(path: Path) -> Plan:
    """The plan at ``path``, with its adapter imported and checked (``target.adapter``,
    ``target.adapterOptions``, a ``target.skus`` file): problems name the plan's lines."""
    plan = load_plan(path)
    check_plan_adapter(plan, path.resolve().parent, path)
    return plan


def load_with_overrides(
    path: Path, *, duration: str | None = None, oms_version: str | None = None
) -> Plan:
    plan = load_plan_checked(path)
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
    """Skip the chaos steps a shorter ``--duration`` leaves unfinished at the end of the load."""
    kept = tuple(
        step for step in plan.chaos if step.offset_s + (step.duration_s or 0) <= end_s
        and step.offset_s < end_s
    )  # fmt: skip
    if len(kept) == len(plan.chaos):
        return plan
    skipped = ", ".join(step.experiment for step in plan.chaos if step not in kept)
    stderr.print(f"peakops: skipping chaos {skipped}: it would not end inside the {end_s:g} s load")
    return plan.model_copy(update={"chaos": kept})


def allowed_hosts(flags: list[str] | None) -> frozenset[str]:
    """The operator's hosts: ``PEAKOPS_ALLOWED_HOSTS`` and ``--allow-host`` (UsageError if bad)."""
    return operator_hosts(os.environ.get(ALLOWED_HOSTS_ENV), flags or [])


def run_with_progress(
    plan: Plan,
    root: Path,
    processes: int,
    hosts: frozenset[str] = frozenset(),
    plan_dir: Path | None = None,
) -> GateResult:
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
        result = run_rehearsal(
            plan,
            root,
            processes=processes,
            allowed_hosts=hosts,
            plan_dir=plan_dir,
            progress=lambda done, _total: bar.update(task, completed=done),
        )
    note = cleanup_note(RunDir(result.run_dir))  # beside the verdict, never part of it
    if note:
        stderr.print(f"peakops: {note}", highlight=False, markup=False)
    return result


def stopped(stop: Stopped, output: Output) -> NoReturn:
    """A rehearsal stopped by a signal or its deadline: what was gated, then 128 + signal."""
    result = stop.result
    if isinstance(result, GateResult):
        show(result, output)
    stderr.print(
        f"peakops: stopped: {stop.reason}; the load, every fault and the target were stopped "
        "and what was recorded is gated in the run directory"
    )
    code = exit_code_for(stop, result.verdict.exit_code if isinstance(result, GateResult) else 4)
    raise typer.Exit(code)


def show(result: GateResult, output: Output) -> None:
    if output is Output.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        render_result(result, stdout)


def parse_flag(parse: Callable[[str], float], flag: str, text: str) -> float:
    try:
        return parse(text)
    except ValueError as err:
        raise UsageError(f"{flag}: {err}") from err


_RESERVED = {
    int(ExitCode.USAGE): "usage errors",
    int(ExitCode.INFRA): "infrastructure errors",
    int(ExitCode.INCONCLUSIVE): "inconclusive verdicts",
    int(ExitCode.REVERT_FAILED): "failed reverts",
}


def with_breach_exit_code(plan: Plan, code: int | None) -> Plan:
    """The plan with ``--exit-code-on-breach`` as its ``slos.breachExitCode``: the one place
    the flag acts. The verdict then carries that code (``verdict.json``, the summary), and a
    rehearsal's snapshot keeps it, so re-gating the run reproduces it."""
    if code is None or code == plan.slos.breach_exit_code:
        return plan
    if code in _RESERVED:
        raise UsageError(
            f"--exit-code-on-breach: exit code {code} is reserved for {_RESERVED[code]}; "
            "use 1 or a code from 6 to 125"
        )
    slos = plan.slos.model_copy(update={"breach_exit_code": code})
    return plan.model_copy(update={"slos": slos})


def append_step_summary(result: GateResult) -> None:
    """Append the run's ``summary.md`` to ``$GITHUB_STEP_SUMMARY`` when it is set (GitHub
    Actions shows it on the job's page). A file that cannot be written is a warning: the
    verdict, not the job page, decides the exit code."""
    target = os.environ.get(STEP_SUMMARY_ENV)
    if not target:
        return
    summary = RunDir(result.run_dir).file(SUMMARY_FILE)
    text = summary.read_text(encoding="utf-8") if summary.exists() else markdown_summary(result)
    try:
        with open(target, "a", encoding="utf-8") as out:
            out.write(text if text.endswith("\n") else text + "\n")
    except OSError as err:
        stderr.print(f"peakops: warning: ${STEP_SUMMARY_ENV}: cannot append the summary: {err}",
                     highlight=False, markup=False)  # fmt: skip
