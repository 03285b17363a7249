"""``peakops profiles``: list the retail traffic presets and draw one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.common import (
    Output,
    OutputOption,
    PlanOption,
    fail,
    load_with_overrides,
    stdout,
)
from slo.errors import PeakopsError, UsageError
from slo.plan import with_overrides

__all__ = ["profiles_app"]

profiles_app = typer.Typer(help="Retail traffic profiles (load.profile).", no_args_is_help=True)


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
            load_with_overrides(plan, duration=duration),
            profile=name,
            baseline_per_min=baseline,
            peak_per_min=peak,
        ).load
        profile = build_profile(load)
    except PeakopsError as err:
        fail(err)
    if output is Output.json:
        print(json.dumps(profile_to_dict(profile), indent=2, sort_keys=True))
    else:
        print(f"{preset.name}: {preset.description}")
        print(render_chart(profile))
