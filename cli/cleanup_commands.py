"""``peakops cleanup RUN_DIR``: cancel the orders a run left confirmed in the OMS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.common import AllowHostOption, Output, OutputOption, allowed_hosts, fail, stdout
from slo.errors import PeakopsError

__all__ = ["cleanup"]


def cleanup(
    run_dir: Annotated[Path, typer.Argument(help="A run directory, e.g. runs/20261122-...")],
    allow_host: AllowHostOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Cancel every order the run confirmed and did not cancel, through the plan's adapter.

    Idempotent: what an earlier cleanup cancelled (cleanup.jsonl) is skipped. Exit 0 when
    everything is cancelled, 1 when some orders could not be (each named, with why),
    3 when the OMS did not answer.
    """
    from collectors.cleanup import adapter_for_run, cleanup_run
    from collectors.rundir import RunDir

    try:
        run = RunDir.open(run_dir)
        _plan, adapter = adapter_for_run(run, operator_hosts=allowed_hosts(allow_host))
        report = cleanup_run(run, adapter)
    except PeakopsError as err:
        fail(err)
    if output is Output.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        stdout.print(report.summary(), highlight=False, markup=False)
        for line in report.failure_lines():
            stdout.print(f"  not cancelled: {line}", highlight=False, markup=False)
    raise typer.Exit(report.exit_code)
