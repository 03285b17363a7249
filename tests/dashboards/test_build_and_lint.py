"""``peakops dashboards build`` and ``lint``: deterministic, committed, and lint finds
what would break on screen (file, panel title and reason, exit 1)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from cli.dashboards_inputs import burn_limits, dashboard_inputs, metric_catalog
from dashboards import build_files, lint_document
from slo.loader import load_plan

runner = CliRunner()
GENERATED = Path("dashboards/generated")
Doc = dict[str, Any]


def _files() -> dict[str, str]:
    plan = load_plan(Path("peak.yaml"))
    return build_files(dashboard_inputs(plan), burn_limits(plan))


def _overview() -> Doc:
    return json.loads((GENERATED / "default-peak-overview.json").read_text())


def test_two_builds_of_the_default_plan_are_byte_identical_and_sorted() -> None:
    first, second = _files(), _files()
    assert first == second
    assert sorted(first) == [
        "default-peak-overview.json", "default-peak-slo-burn.json", "default-peak-stock.json"
    ]  # fmt: skip
    for text in first.values():
        doc = json.loads(text)
        assert text == json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        assert doc["schemaVersion"] >= 41  # the 0.0.x SDK line, not the Grafana 10.1 build


def test_build_check_passes_on_the_committed_files() -> None:
    result = runner.invoke(app, ["dashboards", "build", "--check"])
    assert result.exit_code == 0, result.output
    assert "3 dashboards up to date" in result.output


def test_build_check_exits_1_with_a_diff_when_a_file_differs(tmp_path: Path) -> None:
    for name, text in _files().items():
        (tmp_path / name).write_text(text)
    stale = tmp_path / "default-peak-stock.json"
    stale.write_text(stale.read_text().replace("Stock integrity", "Stock"))
    result = runner.invoke(app, ["dashboards", "build", "--check", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert '+  "title": "Stock integrity: default-peak"' in result.output
    assert "is stale" in result.output


def test_build_writes_the_files(tmp_path: Path) -> None:
    result = runner.invoke(app, ["dashboards", "build", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(_files())


def test_the_committed_dashboards_lint_clean() -> None:
    result = runner.invoke(app, ["dashboards", "lint", *map(str, sorted(GENERATED.glob("*.json")))])
    assert result.exit_code == 0, result.output
    assert "3 dashboards, 0 problems" in result.output


def test_every_dashboard_has_the_variables_annotations_and_opening_text() -> None:
    for path in sorted(GENERATED.glob("*.json")):
        doc = json.loads(path.read_text())
        names = [v["name"] for v in doc["templating"]["list"]]
        assert names[:2] == ["datasource", "run"]
        tags = [a["target"]["tags"] for a in doc["annotations"]["list"]]
        assert tags == [["peakops", k] for k in ("fault", "deploy", "rollback", "alert")]
        first = doc["panels"][0]
        assert first["type"] == "text" and "Look first" in first["options"]["content"]
        assert "**Colours**" in first["options"]["content"]


def _target(doc: Doc, title: str) -> Doc:
    panel = next(p for p in doc["panels"] if p.get("title") == title)
    target: Doc = panel["targets"][0]
    return target


def _unknown_metric(doc: Doc) -> None:
    _target(doc, "Active journeys")["expr"] = "sum(peakops_load_generator_cpu_percent)"


def _bad_promql(doc: Doc) -> None:
    _target(doc, "Active journeys")["expr"] = "sum(peakops_journeys_active"


def _duplicate_id(doc: Doc) -> None:
    doc["panels"][5]["id"] = doc["panels"][4]["id"]


def _duplicate_ref(doc: Doc) -> None:
    panel = next(p for p in doc["panels"] if p.get("title") == "Active journeys")
    panel["targets"].append(copy.deepcopy(panel["targets"][0]))


def _overlap(doc: Doc) -> None:
    doc["panels"][5]["gridPos"]["x"] = 6


def _too_wide(doc: Doc) -> None:
    doc["panels"][5]["gridPos"]["w"] = 20


def _undefined_variable(doc: Doc) -> None:
    _target(doc, "Active journeys")["expr"] = 'sum(peakops_journeys_active{sku=~"$sku"})'


def _fixed_datasource(doc: Doc) -> None:
    panel = next(p for p in doc["panels"] if p.get("title") == "Active journeys")
    panel["datasource"] = {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}


def _unknown_field(doc: Doc) -> None:
    doc["panels"][0]["titel"] = "typo"


CASES: list[tuple[Callable[[Doc], None], str, str]] = [
    (_unknown_metric, "Active journeys",
     "metric peakops_load_generator_cpu_percent is produced by no collector"),
    (_bad_promql, "Active journeys", "PromQL does not parse"),
    (_duplicate_id, "Active journeys", "is also used by 'Arrivals planned / sent"),
    (_duplicate_ref, "Active journeys", "refId A used by more than one query"),
    (_overlap, "Active journeys", "overlaps 'Arrivals planned / sent / dropped per second'"),
    (_too_wide, "Active journeys", "outside the 24 columns"),
    (_undefined_variable, "Active journeys", "uses $sku, which the dashboard does not define"),
    (_fixed_datasource, "Active journeys", "use the datasource variable"),
    (_unknown_field, "(dashboard)", "/panels/0/titel is dropped"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("break_it", "panel", "reason"),
    CASES,
    ids=[
        "a metric nobody produces fails with file, panel and reason",
        "an expression that does not parse fails",
        "two panels with one id fail",
        "two queries of a panel with one refId fail",
        "overlapping panels fail",
        "a panel past the 24th column fails",
        "a template variable the dashboard does not define fails",
        "a datasource by fixed uid instead of the variable fails",
        "a field the SDK models drop in a round trip fails",
    ],
)
def test_lint_finds_the_problem_with_file_panel_and_reason(
    break_it: Callable[[Doc], None], panel: str, reason: str
) -> None:
    doc = _overview()
    break_it(doc)
    problems = lint_document(doc, "x.json", metric_catalog())
    assert any(p.file == "x.json" and p.panel == panel and reason in p.reason for p in problems), [
        str(p) for p in problems
    ]


def test_lint_command_exits_1_naming_file_panel_and_the_unknown_metric(tmp_path: Path) -> None:
    doc = _overview()
    _unknown_metric(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    result = runner.invoke(app, ["dashboards", "lint", str(bad)])
    assert result.exit_code == 1
    line = " ".join(result.output.split())
    assert f"{bad}: Active journeys: query A: metric peakops_load_generator_cpu_percent" in line
    result = runner.invoke(app, ["dashboards", "lint", str(bad), "--output", "json"])
    assert result.exit_code == 1
    problem = json.loads(result.output)["problems"][0]
    assert problem["file"] == str(bad) and problem["panel"] == "Active journeys"


def test_lint_reports_a_file_that_is_not_json(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    result = runner.invoke(app, ["dashboards", "lint", str(bad)])
    assert result.exit_code == 1
    assert "not JSON" in result.output
