"""``peakops target``: check that an OMS and its adapter fit before a rehearsal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.common import (
    AllowHostOption,
    Output,
    OutputOption,
    PlanOption,
    allowed_hosts,
    fail,
    stdout,
)
from slo.errors import PeakopsError
from slo.loader import load_plan

__all__ = ["target_app"]

target_app = typer.Typer(help="The OMS under test (target.kind: url).", no_args_is_help=True)

_STYLE = {"pass": "green", "fail": "bold red", "unsupported": "yellow", "skipped": "dim"}


@target_app.command("check")
def target_check(
    plan: PlanOption = Path("peak.yaml"),
    adapter: Annotated[
        str | None,
        typer.Option(
            help="Adapter as package.module:ClassName (default: the plan's target.adapter, "
            "else the reference OMS's); a module next to the plan is found."
        ),
    ] = None,
    allow_host: AllowHostOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Check the plan's adapter against the live OMS with one test SKU, line by line.

    Reads the truth and every channel view, places one unit and times how long the truth
    and each view take to show it, looks the order up by its idempotency key, retries
    the key, cancels, orders more than is available, and looks at the counts. Each line
    says pass, fail or unsupported, and what the drift checker can judge as a result.

    It PLACES REAL ORDERS on the target: synthetic and tagged (idempotency keys
    peakops-check-..., customer peakops-synthetic, header X-Peakops-Run-Id:
    target-check), and cancels every one of them before it exits. Run it while nothing
    else orders the test SKU. Exit 0: usable (nothing failed); 1: a check failed;
    2: a bad plan or adapter; 3: the OMS is unreachable.
    """
    from rollout.conformance import check_target

    try:
        the_plan = load_plan(plan)
        report = check_target(
            the_plan, plan, adapter_spec=adapter, operator_hosts=allowed_hosts(allow_host)
        )
    except PeakopsError as err:
        fail(err)
    if output is Output.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True))
        raise typer.Exit(report.exit_code)
    from rich.markup import escape
    from rich.table import Table

    table = Table("check", "result", "detail", "the drift checker, as a result")
    for line in report.lines:
        style = _STYLE.get(line.status, "")
        table.add_row(escape(line.check), f"[{style}]{line.status}[/]", escape(line.detail),
                      escape(line.judged))  # fmt: skip
    stdout.print(f"target {report.base_url} with adapter {report.adapter}, test sku "
                 f"{report.sku or '(none)'}", highlight=False, markup=False)  # fmt: skip
    stdout.print(table)
    verdict = "usable" if report.usable else "NOT usable: a check failed"
    stdout.print(f"adapter {verdict} (exit {report.exit_code}); every order it placed was "
                 "cancelled unless a cleanup line says otherwise", highlight=False,
                 markup=False)  # fmt: skip
    raise typer.Exit(report.exit_code)
