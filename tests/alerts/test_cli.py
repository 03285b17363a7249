"""``peakops alerts generate`` and ``peakops alerts test`` as a user meets them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from tests.alerts.plans import ROOT, needs_tool

runner = CliRunner()

SMALL_PLAN = """\
apiVersion: peakops/v1
name: small
target: {}
load: {duration: 60s, baseline: 10}
slos:
  alertWindows: rehearsal
  objectives:
    - {id: errors, kind: error_ratio, max: 0.01}
    - {id: fast, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms}
"""


@pytest.fixture
def small(tmp_path: Path) -> Path:
    plan = tmp_path / "small.yaml"
    plan.write_text(SMALL_PLAN, encoding="utf-8")
    return plan


def _generate(plan: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(
        app, ["alerts", "generate", "--plan", str(plan), "--out", str(out), *extra]
    )
    return result.exit_code, result.output


def test_the_committed_files_are_what_the_default_plan_generates() -> None:
    code, output = _generate(ROOT / "peak.yaml", ROOT / "alerts" / "generated", "--check")
    assert code == 0, output
    assert "3 files up to date" in output


def test_generate_writes_rules_tests_and_alertmanager_config(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output = _generate(small, out)
    assert code == 0, output
    assert sorted(p.name for p in out.iterdir()) == [
        "alertmanager.yaml",
        "small.rules.yaml",
        "small.tests.yaml",
    ]
    assert f"wrote {out / 'small.rules.yaml'}" in output
    assert _generate(small, out, "--check")[0] == 0


def test_check_exits_1_with_a_diff_when_a_file_is_stale(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _generate(small, out)
    rules = out / "small.rules.yaml"
    rules.write_text(rules.read_text().replace("(14.4 * 0.01)", "(10 * 0.01)"))
    code, output = _generate(small, out, "--check")
    assert code == 1
    assert f"--- {rules} (on disk)" in output and f"+++ {rules} (generated)" in output
    assert '\n-      peakops:slo_sli_error:ratio_rate10s{slo="errors"} > (10 * 0.01)\n' in output
    assert '\n+      peakops:slo_sli_error:ratio_rate10s{slo="errors"} > (14.4 * 0.01)\n' in output
    assert "is stale: run `peakops alerts generate" in output
    assert rules.read_text().count("(10 * 0.01)") > 0  # --check writes nothing


def test_check_exits_1_when_nothing_was_generated_yet(small: Path, tmp_path: Path) -> None:
    code, output = _generate(small, tmp_path / "missing", "--check")
    assert code == 1 and "(on disk)" in output


def test_the_page_webhook_is_a_parameter(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _generate(small, out, "--page-url", "http://127.0.0.1:9999/hook")
    assert "url: http://127.0.0.1:9999/hook" in (out / "alertmanager.yaml").read_text()


def test_a_threshold_between_buckets_exits_2_naming_the_slo(tmp_path: Path) -> None:
    plan = tmp_path / "bad.yaml"
    plan.write_text(SMALL_PLAN.replace("250ms", "300ms"), encoding="utf-8")
    code, output = _generate(plan, tmp_path / "out")
    assert code == 2
    assert "'fast'" in output and "300ms" in output and "250ms and 500ms" in output
    assert "Traceback" not in output and not (tmp_path / "out").exists()


def test_alerts_test_runs_promtool_and_amtool(small: Path, tmp_path: Path) -> None:
    needs_tool("promtool")
    needs_tool("amtool")
    out = tmp_path / "out"
    _generate(small, out)
    result = runner.invoke(app, ["alerts", "test", "--dir", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "ok: promtool check rules small.rules.yaml",
        "ok: promtool test rules small.tests.yaml",
        "ok: amtool check-config alertmanager.yaml",
    ]


def test_alerts_test_exits_1_when_a_generated_test_fails(small: Path, tmp_path: Path) -> None:
    needs_tool("promtool")
    needs_tool("amtool")
    out = tmp_path / "out"
    _generate(small, out)
    rules = out / "small.rules.yaml"
    rules.write_text(rules.read_text().replace("[30s])", "[1m])"))
    result = runner.invoke(app, ["alerts", "test", "--dir", str(out)])
    assert result.exit_code == 1
    assert "FAILED: promtool test rules small.tests.yaml" in result.output
    assert "1 of 3 checks failed" in result.output


def test_alerts_test_exits_3_when_promtool_is_missing(
    small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    _generate(small, out)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = runner.invoke(app, ["alerts", "test", "--dir", str(out)])
    assert result.exit_code == 3
    assert "promtool not found on PATH" in result.output
    assert "apt-get install -y prometheus" in result.output


def test_alerts_test_exits_2_without_generated_files(tmp_path: Path) -> None:
    result = runner.invoke(app, ["alerts", "test", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no generated alert files" in result.output


@pytest.mark.parametrize("command", [["alerts"], ["alerts", "generate"], ["alerts", "test"]])
def test_every_alerts_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output
