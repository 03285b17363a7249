"""``peakops deploy``: roll a version out on the local platform of a running rehearsal.

Parse, check the version, call the rehearsal's control API
(:class:`platforms.local_control.LocalControl`), map the result to an exit code: 0
deployed, 2 a bad flag or a refusal (no such run, no ``control.json``), 3 the rehearsal
does not answer, 5 the rollout failed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import OmsVersion, Output, OutputOption, fail, parse_flag, stdout
from slo.durations import parse_duration
from slo.errors import PeakopsError, UsageError

__all__ = ["deploy"]


def deploy(
    run_dir: Annotated[
        Path, typer.Option(help="The run directory of a running rehearsal (its control.json).")
    ],
    oms_version: Annotated[
        str, typer.Option(help="The reference OMS version to roll out: v1 or v2.")
    ],
    reason: Annotated[str, typer.Option(help="Why: goes into the run's events.jsonl.")] = (
        "manual deploy"
    ),
    timeout: Annotated[
        str, typer.Option(help="How long to wait for the rollout, e.g. 90s or 5m (exit 3 after).")
    ] = "5m",
    output: OutputOption = Output.table,
) -> None:
    """Deploy an OMS version to the local platform of a running rehearsal.

    Every replica is replaced, each healthy before the next. Exit 0 deployed, 2 a bad
    flag or no running rehearsal in --run-dir, 3 the rehearsal does not answer, 5 the
    rollout failed.
    """
    from platforms.local_control import LocalControl  # imported late: a fast --help

    try:
        version = _version(oms_version)
        timeout_s = parse_flag(parse_duration, "--timeout", timeout)
        if timeout_s <= 0:
            raise UsageError(f"--timeout: must be positive, got {timeout!r}")
        control = LocalControl.from_run_dir(run_dir, timeout_s=timeout_s)
        data = control.deploy(version, reason=reason, source="cli")
    except PeakopsError as err:
        fail(err)
    report: dict[str, Any] = {"run_id": control.run_id, "version": version} | data
    if output is Output.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return
    message = str(data.get("message") or f"deployed {version} to the local platform of run "
                  f"{control.run_id}")  # fmt: skip
    stdout.print(message, highlight=False, markup=False)


def _version(text: str) -> str:
    known = [v.value for v in OmsVersion]
    if text not in known:
        raise UsageError(
            f"--oms-version: unknown version {text!r} (the reference OMS knows {', '.join(known)})"
        )
    return text
