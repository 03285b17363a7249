"""Small builders over grafana-foundation-sdk: queries, panels, variables, annotations, grid.

Every query and panel reads the ``$datasource`` variable; every selector carries the
run matcher (``run_matcher``). Colours are fixed here, so each dashboard's opening text
can say what they mean: green fine, amber near the objective, red past it; annotations
red for faults, blue for deploys, purple for rollbacks, orange for alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import heatmap, prometheus, stat, text, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import heatmap as heatmap_models
from grafana_foundation_sdk.models import prometheus as prometheus_models
from grafana_foundation_sdk.models import text as text_models

from slo.conventions import LABEL_RUN

__all__ = [
    "AMBER",
    "ANNOTATION_COLOURS",
    "ANNOTATION_TAG",
    "DATASOURCE",
    "DATASOURCE_VAR",
    "GREEN",
    "GRID_COLUMNS",
    "RED",
    "Grid",
    "annotation_queries",
    "heatmap_panel",
    "prom",
    "run_matcher",
    "stat_panel",
    "steps",
    "text_panel",
    "thresholds",
    "timeseries_panel",
]

GRID_COLUMNS: Final = 24
DATASOURCE_VAR: Final = "datasource"
DATASOURCE = common.DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VAR}}}")
GRAFANA_DATASOURCE = common.DataSourceRef(type_val="grafana", uid="-- Grafana --")

ANNOTATION_TAG: Final = "peakops"
"""Every annotation ``peakops dashboards annotate`` posts carries it, plus its kind."""
ANNOTATION_COLOURS: Final = {
    "fault": "red",
    "deploy": "blue",
    "rollback": "purple",
    "alert": "orange",
}
"""Annotation kind -> colour: the tag each dashboard's annotation query matches."""

GREEN, AMBER, RED = "green", "#EAB839", "red"


def run_matcher() -> str:
    """``peakops_run=~"$run"``: every run when ``$run`` is All (``.*`` also matches the
    label's absence, as in a rehearsal's own Prometheus)."""
    return f'{LABEL_RUN}=~"$run"'


def prom(expr: str, legend: str = "", *, fmt: str | None = None, exemplar: bool = False,
         instant: bool = False) -> prometheus.Dataquery:  # fmt: skip
    """A Prometheus query on ``$datasource``."""
    query = prometheus.Dataquery().expr(expr).datasource(DATASOURCE)
    if legend:
        query = query.legend_format(legend)
    if fmt == "heatmap":
        query = query.format(prometheus_models.PromQueryFormat.HEATMAP)
    if exemplar:
        query = query.exemplar(True)
    if instant:
        query = query.instant()
    return query


def steps(base: str, *above: tuple[float, str]) -> db.ThresholdsConfig:
    """``base`` colour, then each ``(value, colour)`` from that value up."""
    levels = [dm.Threshold(None, base), *(dm.Threshold(value, colour) for value, colour in above)]
    return db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(levels)


def thresholds(amber: float | None = None, red: float | None = None) -> db.ThresholdsConfig:
    """Green below ``amber``, amber up to ``red``, red from ``red`` on."""
    above = [(amber, AMBER)] if amber is not None else []
    above += [(red, RED)] if red is not None else []
    return steps(GREEN, *above)


def timeseries_panel(title: str, description: str, targets: Sequence[prometheus.Dataquery], *,
                     unit: str = "short", limits: db.ThresholdsConfig | None = None,
                     stacked: bool = False) -> timeseries.Panel:  # fmt: skip
    """A time series; with ``limits`` its thresholds are drawn as dashed lines."""
    panel = (
        timeseries.Panel().title(title).description(description).datasource(DATASOURCE)
        .unit(unit).targets(list(targets)).fill_opacity(10).line_width(1)
        .legend(cb.VizLegendOptions().show_legend(True)
                .display_mode(common.LegendDisplayMode.TABLE)
                .placement(common.LegendPlacement.BOTTOM).calcs(["lastNotNull", "max"]))
    )  # fmt: skip
    if limits is not None:
        style = cb.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
        panel = panel.thresholds(limits).thresholds_style(style)
    else:
        panel = panel.thresholds(thresholds()).color_scheme(
            db.FieldColor().mode(dm.FieldColorModeId.PALETTE_CLASSIC)
        )
    if stacked:
        panel = panel.stacking(cb.StackingConfig().mode(common.StackingMode.NORMAL))
    return panel


def stat_panel(
    title: str,
    description: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    unit: str = "short",
    limits: db.ThresholdsConfig | None = None,
) -> stat.Panel:
    """One big number per series, coloured by ``limits`` (green when none)."""
    return (
        stat.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit)
        .targets(list(targets)).thresholds(limits or thresholds())
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]))
    )  # fmt: skip


def heatmap_panel(title: str, description: str, query: prometheus.Dataquery) -> heatmap.Panel:
    """A heatmap of histogram buckets, with exemplars (trace ids) as dots."""
    return (
        heatmap.Panel().title(title).description(description).datasource(DATASOURCE)
        .targets([query]).unit("s").calculate(False)
        .color(heatmap.HeatmapColorOptions().mode(heatmap_models.HeatmapColorMode.SCHEME)
               .scheme("Oranges").steps(64))
        .exemplars_color("rgba(255,0,255,0.7)")
    )  # fmt: skip


def text_panel(title: str, markdown: str) -> text.Panel:
    """A markdown text panel (no query, no datasource)."""
    return text.Panel().title(title).content(markdown).mode(text_models.TextMode.MARKDOWN)


def annotation_queries() -> list[db.AnnotationQuery]:
    """One tag query per annotation kind on Grafana's own annotation store: the windows
    ``peakops dashboards annotate`` posts show on every panel of every dashboard."""
    return [_tag_query(kind, colour) for kind, colour in ANNOTATION_COLOURS.items()]


def _tag_query(kind: str, colour: str) -> db.AnnotationQuery:
    tags = db.AnnotationTarget().type("tags").tags([ANNOTATION_TAG, kind]).match_any(False)
    query = (
        db.AnnotationQuery().name(f"peakops {kind}s").datasource(GRAFANA_DATASOURCE)
        .enable(True).hide(False).icon_color(colour)
    )  # fmt: skip
    # The SDK types ``target`` as a data query; Grafana's tag filter is this one.
    return query.target(tags.limit(500))  # type: ignore[arg-type]


@dataclass
class Grid:
    """Places panels left to right in lines of ``GRID_COLUMNS`` columns, rows between."""

    items: list[Any] = field(default_factory=list)
    y: int = 0

    def row(self, title: str) -> None:
        row = db.Row(title).grid_pos(dm.GridPos(h=1, w=GRID_COLUMNS, x=0, y=self.y))
        self.items.append(row)
        self.y += 1

    def line(self, *panels: tuple[int, Any], height: int = 8) -> None:
        """Panels side by side, each ``(width, panel)``; widths add up to at most 24."""
        x = 0
        for width, panel in panels:
            if x + width > GRID_COLUMNS:
                raise ValueError(f"panels wider than {GRID_COLUMNS} columns at y={self.y}")
            self.items.append(panel.grid_pos(dm.GridPos(h=height, w=width, x=x, y=self.y)))
            x += width
        self.y += height

    def add_to(self, dashboard: db.Dashboard) -> db.Dashboard:
        for item in self.items:
            dashboard = (
                dashboard.with_row(item) if isinstance(item, db.Row) else dashboard.with_panel(item)
            )
        return dashboard
