"""``peakops alerts``: generate Prometheus rules, their tests and Alertmanager config from
the plan's SLOs, check them against what is committed, run promtool and amtool on them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alerts import (
    DEFAULT_PAGE_URL,
    check_directory,
    diff_files,
    generate_files,
    generate_openslo,
    write_files,
)
from cli.common import PlanOption, fail, stderr, stdout
from slo.errors import PeakopsError
from slo.exitcodes import ExitCode
from slo.loader import load_plan

__all__ = ["alerts_app"]

alerts_app = typer.Typer(
    help="Prometheus alerts from the plan's SLOs: rules, promtool tests, Alertmanager config.",
    no_args_is_help=True,
)

DirOption = Annotated[
    Path, typer.Option("--dir", help="Directory of the generated files.", file_okay=False)
]


@alerts_app.command("generate")
def alerts_generate(
    plan: PlanOption = Path("peak.yaml"),
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where the files go.", file_okay=False)
    ] = Path("alerts/generated"),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 (with a diff) if stale.")
    ] = False,
    page_url: Annotated[
        str, typer.Option(help="Webhook that receives pages (the rollback receiver).")
    ] = DEFAULT_PAGE_URL,
    ticket_url: Annotated[
        str | None, typer.Option(help="Webhook that receives tickets (default: dropped).")
    ] = None,
) -> None:
    """Write <plan>.rules.yaml, <plan>.tests.yaml and alertmanager.yaml for the plan."""
    try:
        files = generate_files(load_plan(plan), page_url=page_url, ticket_url=ticket_url)
        if check:
            diff = diff_files(out, files)
        else:
            written = write_files(out, files)
    except PeakopsError as err:
        fail(err)
    if not check:
        for path in written:
            stdout.print(f"wrote {path}", highlight=False, markup=False)
        return
    if diff:
        print(diff, end="")
        stderr.print(
            f"peakops: {out} is stale: run `peakops alerts generate --plan {plan} --out {out}`",
            highlight=False, markup=False,
        )  # fmt: skip
        raise typer.Exit(int(ExitCode.BREACH))
    stdout.print(f"{out}: {len(files)} files up to date", highlight=False, markup=False)


@alerts_app.command("test")
def alerts_test(directory: DirOption = Path("alerts/generated")) -> None:
    """promtool check/test rules and amtool check-config on the generated files.

    Exit 0 when all pass, 1 when one fails, 3 when promtool or amtool is missing.
    """
    try:
        runs = check_directory(directory)
    except PeakopsError as err:
        fail(err)
    for run in runs:
        status = "ok" if run.ok else "FAILED"
        stdout.print(f"{status}: {' '.join(run.command)}", highlight=False, markup=False)
        if not run.ok:
            print(run.output)
    failed = sum(not run.ok for run in runs)
    if failed:
        stderr.print(f"peakops: {failed} of {len(runs)} checks failed in {directory}")
        raise typer.Exit(int(ExitCode.BREACH))


@alerts_app.command("openslo")
def alerts_openslo(
    plan: PlanOption = Path("peak.yaml"),
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write here instead of stdout.", dir_okay=False),
    ] = None,
) -> None:
    """Export the plan's event-ratio SLOs as OpenSLO v1 documents."""
    try:
        text = generate_openslo(load_plan(plan))
        if out is not None:
            write_files(out.parent, {out.name: text})
    except PeakopsError as err:
        fail(err)
    if out is None:
        print(text, end="")
    else:
        stdout.print(f"wrote {out}", highlight=False, markup=False)
