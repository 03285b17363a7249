"""``peakops report``: the self-contained HTML report of a run directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.common import Output, OutputOption, fail, stderr, stdout
from slo.errors import PeakopsError

__all__ = ["report"]


def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory, e.g. runs/20261122-...")],
    baseline: Annotated[
        Path | None,
        typer.Option(help="A baseline run directory to compare with (when peakops can)."),
    ] = None,
    output: OutputOption = Output.table,
) -> None:
    """Build report.html for a run directory (a finished, failed or killed run).

    The report shows the verdict in verdict.json; a run that was never gated (killed
    before its gate) is gated first, which writes its verdict files too. Prints the
    report's path. Exit 0 when the report was written, 2 when RUN_DIR is not a run
    directory (or cannot be written).
    """
    from collectors.rundir import RunDir
    from rollout.gate import gate_run, plan_of_run
    from rollout.report import read_verdict, rebuild_report, write_report
    from slo.runfiles import REPORT_FILE, VERDICT_FILE

    try:
        run = RunDir.open(run_dir)
        other = RunDir.open(baseline) if baseline is not None else None
    except PeakopsError as err:
        fail(err)
    notes: list[str] = []
    try:
        plan = plan_of_run(run)
    except PeakopsError as err:
        plan = None
        notes.append(f"the run's plan could not be read, so the run cannot be gated: {err}")
    gated = False
    try:
        if plan is not None and read_verdict(run).verdict is None:
            # Never gated (or its verdict is unreadable): judge it, as `peakops gate` would.
            result = gate_run(run, plan)  # writes report.html too, without a baseline
            path = run.file(REPORT_FILE)
            if other is not None:
                path = write_report(run, plan, result, baseline=other)
            gated = True
            notes.append(f"the run had no readable {VERDICT_FILE}: gated it first")
        else:
            path = rebuild_report(run, plan, baseline=other, problem="; ".join(notes))
    except PeakopsError as err:  # a corrupt record: report what can be read
        notes.append(f"the gate could not judge this run: {err}")
        try:
            path = rebuild_report(run, plan, baseline=other, problem="; ".join(notes))
        except PeakopsError as again:
            fail(again)
    _show(path, gated, notes, output)


def _show(path: Path, gated: bool, notes: list[str], output: Output) -> None:
    if output is Output.json:
        data = {"report": str(path), "bytes": path.stat().st_size, "gated": gated,
                "notes": notes}  # fmt: skip
        print(json.dumps(data, indent=2, sort_keys=True))
        return
    for note in notes:
        stderr.print(f"peakops: {note}", highlight=False, markup=False)
    stdout.print(f"report: {path}", highlight=False, markup=False)
