"""Grafana dashboards as code (grafana-foundation-sdk): the plan's three dashboards,
deterministic JSON, offline lint, push and run annotations with grafana-client.
Imports only ``slo`` of ours (docs/dashboards.md).

This module only re-exports the public names of its submodules.
"""

from dashboards.annotations import Annotation, RunEvent, run_annotations
from dashboards.catalog import MetricCatalog, catalog
from dashboards.grafana import (
    TOKEN_ENV,
    Pushed,
    checked_url,
    connect,
    dry_run_diff,
    post_annotations,
    push_dashboards,
)
from dashboards.inputs import DashboardInputs, SkippedSlo, SloRow
from dashboards.lint import Problem, lint_document, lint_file
from dashboards.live import PanelSeries, panel_series
from dashboards.render import DASHBOARDS, build_files, diff_files, write_files

__all__ = [
    "DASHBOARDS",
    "TOKEN_ENV",
    "Annotation",
    "DashboardInputs",
    "MetricCatalog",
    "PanelSeries",
    "Problem",
    "Pushed",
    "RunEvent",
    "SkippedSlo",
    "SloRow",
    "build_files",
    "catalog",
    "checked_url",
    "connect",
    "diff_files",
    "dry_run_diff",
    "lint_document",
    "lint_file",
    "panel_series",
    "post_annotations",
    "push_dashboards",
    "run_annotations",
    "write_files",
]
