"""``peakops dashboards``: build the plan's Grafana dashboards, lint them offline, push
them to Grafana and post a run's windows as annotations (docs/dashboards.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import (
    AllowHostOption,
    Output,
    OutputOption,
    PlanOption,
    allowed_hosts,
    fail,
    stderr,
    stdout,
)
from cli.dashboards_inputs import burn_limits, dashboard_inputs, metric_catalog, run_events
from dashboards import (
    TOKEN_ENV,
    build_files,
    checked_url,
    connect,
    diff_files,
    dry_run_diff,
    lint_file,
    post_annotations,
    push_dashboards,
    run_annotations,
    write_files,
)
from slo.errors import PeakopsError, UsageError
from slo.exitcodes import ExitCode
from slo.loader import load_plan

__all__ = ["dashboards_app"]

dashboards_app = typer.Typer(
    help="Grafana dashboards from the plan: build, lint offline, push, annotate runs.",
    no_args_is_help=True,
)

GENERATED = Path("dashboards/generated")
OutOption = Annotated[
    Path, typer.Option("--out", "-o", help="Directory of the generated files.", file_okay=False)
]
GrafanaUrlOption = Annotated[
    str, typer.Option("--grafana-url", help="Grafana's base URL (loopback or --allow-host).")
]
FilesArgument = Annotated[
    list[Path] | None,
    typer.Argument(help="Dashboard JSON files (default: dashboards/generated/*.json)."),
]


def _say(text: str) -> None:
    stdout.print(text, highlight=False, markup=False)


def _files(files: list[Path] | None) -> list[Path]:
    chosen = files or sorted(GENERATED.glob("*.json"))
    if not chosen:
        raise UsageError(f"no dashboard files given and none in {GENERATED}")
    return chosen


@dashboards_app.command("build")
def dashboards_build(
    plan: PlanOption = Path("peak.yaml"),
    out: OutOption = GENERATED,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 (with a diff) if stale.")
    ] = False,
) -> None:
    """Write the plan's three dashboards (Peak overview, Stock integrity, SLO burn) as
    sorted JSON: <plan>-overview.json, <plan>-stock.json, <plan>-slo-burn.json."""
    try:
        the_plan = load_plan(plan)
        files = build_files(dashboard_inputs(the_plan), burn_limits(the_plan))
        diff = diff_files(out, files) if check else ""
        written = () if check else write_files(out, files)
    except PeakopsError as err:
        fail(err)
    for path in written:
        _say(f"wrote {path}")
    if diff:
        print(diff, end="")
        stderr.print(
            f"peakops: {out} is stale: run `peakops dashboards build --plan {plan} --out {out}`",
            highlight=False, markup=False,
        )  # fmt: skip
        raise typer.Exit(int(ExitCode.BREACH))
    if check:
        _say(f"{out}: {len(files)} dashboards up to date")


@dashboards_app.command("lint")
def dashboards_lint(files: FilesArgument = None, output: OutputOption = Output.table) -> None:
    """Check dashboards offline: SDK round trip, ids, refIds, grid, datasources, PromQL,
    and that every metric is produced by the suite. Exit 1 on any problem."""
    try:
        paths = _files(files)
        known = metric_catalog()
    except PeakopsError as err:
        fail(err)
    problems = [problem for path in paths for problem in lint_file(path, known)]
    if output is Output.json:
        print(json.dumps({"files": [str(p) for p in paths],
                          "problems": [vars(p) for p in problems]}, indent=2))  # fmt: skip
    else:
        for problem in problems:
            stderr.print(f"{problem}", highlight=False, markup=False)
        _say(f"{len(paths)} dashboards, {len(problems)} problems")
    if problems:
        raise typer.Exit(int(ExitCode.BREACH))


def _grafana(url: str, allow_host: list[str] | None) -> tuple[Any, str]:
    checked = checked_url(url, allowed_hosts(allow_host), field="--grafana-url")
    return connect(checked, os.environ.get(TOKEN_ENV)), checked


@dashboards_app.command("push")
def dashboards_push(
    grafana_url: GrafanaUrlOption,
    files: FilesArgument = None,
    folder: Annotated[str | None, typer.Option(help="Grafana folder (created if missing).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Change nothing: diff against Grafana's copy.")
    ] = False,
    run_id: Annotated[
        str | None, typer.Option(help="The run these dashboards go with (in the message).")
    ] = None,
    allow_host: AllowHostOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Overwrite the dashboards in Grafana (token from GRAFANA_TOKEN), after lint.

    The version message carries the git sha and the run id. Exit 1 when lint fails,
    3 when Grafana refuses or cannot be reached.
    """
    from rehearsal.run import git_sha

    try:
        paths = _files(files)
        known = metric_catalog()
        problems = [problem for path in paths for problem in lint_file(path, known)]
        if problems:
            for problem in problems:
                stderr.print(f"{problem}", highlight=False, markup=False)
            raise UsageError(f"{len(problems)} lint problems: nothing pushed")
        docs = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
        api, url = _grafana(grafana_url, allow_host)
        if dry_run:
            diff = dry_run_diff(api, url, docs)
            print(diff, end="")
            _say(f"dry run: {len(docs)} dashboards, {'changes' if diff else 'no change'}")
            return
        message = f"peakops dashboards push: git {git_sha() or 'unknown'}, run {run_id or 'none'}"
        pushed = push_dashboards(api, url, docs, folder=folder, message=message)
    except PeakopsError as err:
        fail(err)
    if output is Output.json:
        print(json.dumps({"pushed": [vars(p) for p in pushed], "message": message}, indent=2))
        return
    for item in pushed:
        _say(f"pushed {item.uid} version {item.version}: {item.url}")


@dashboards_app.command("annotate")
def dashboards_annotate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory, e.g. runs/20261122-...")],
    grafana_url: GrafanaUrlOption,
    allow_host: AllowHostOption = None,
    output: OutputOption = Output.table,
) -> None:
    """Post the run's fault, deploy, rollback and alert windows as Grafana annotations
    (tagged peakops, their kind and run:<id>; every peakops dashboard shows them)."""
    try:
        run_id, events = run_events(run_dir)
        notes = run_annotations(run_id, events)
        api, url = _grafana(grafana_url, allow_host)
        posted = post_annotations(api, url, notes)
    except PeakopsError as err:
        fail(err)
    if output is Output.json:
        print(json.dumps({"run": run_id, "posted": [n.payload() for n in notes]}, indent=2))
        return
    for note in notes:
        _say(f"{note.kind}: {note.text}")
    _say(f"posted {posted} annotations for run {run_id}")
